import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Database as Db } from 'better-sqlite3'
import { snapshotSqlite } from '../catalog/sqlite-snapshot.js'
import { errorMessage, ValidationError } from '../util/errors.js'
import type { Verdict } from '../validate/types.js'
import type { SourceVersion } from './planner.js'
import type { MergedSource } from './provenance.js'
import type { MergeRule } from './rules.js'
import { MergeCountError, type MergeResult, MergeSchemaError, mergeSnapshot } from './sql-merge.js'

export interface SourceIo {
  dataDir: string
  snapshotDir: string
  /** Private snapshots of sources are taken here (never in the data dir). */
  workDir: string
  validate: (path: string, signal: AbortSignal) => Promise<Verdict>
  /** Moves a bad source out (`abs` is the file to quarantine) and drops it from the catalog when it is the data file itself. */
  quarantine: (abs: string, src: SourceVersion, reason: string, ownCopy: boolean) => Promise<void>
  now: () => number
}

export type SourceOutcome =
  | { state: 'merged'; result: MergeResult; record: MergedSource }
  | { state: 'invalid' | 'failed'; reason: string; record: MergedSource }
  /** Gone or locked for now: tried again on the next pass. */
  | { state: 'skipped'; reason: string }

/**
 * Merges one source version into an open target: a private consistent
 * snapshot of the cataloged bytes (the live database's own snapshot, or the
 * file), deep validation of that snapshot (an invalid source is quarantined,
 * never merged), then the SQL merge with its row-count check. The snapshot is
 * removed afterwards whatever happens.
 */
export async function mergeSource(io: SourceIo, rule: MergeRule, target: string, db: Db, src: SourceVersion, opts: { logInTarget: boolean; signal: AbortSignal }): Promise<SourceOutcome> {
  const from = src.snapshot != null ? join(io.snapshotDir, src.snapshot) : join(io.dataDir, src.path)
  const tmp = join(io.workDir, `${src.sha256.slice(0, 16)}.${randomBytes(4).toString('hex')}.db`)
  const base = { merge: rule.name, target, sha256: src.sha256, sourcePath: src.path, origin: src.origin, version: src.version, rowsAdded: 0, rowsUpdated: 0, conflicts: 0 }
  try {
    try {
      await snapshotSqlite(from, tmp, { signal: opts.signal })
    } catch (err) {
      if (!(err instanceof ValidationError)) {
        if (opts.signal.aborted) throw err
        return { state: 'skipped', reason: `snapshot of ${src.path}: ${errorMessage(err)}` }
      }
      const reason = `source ${src.path} is not a valid database: ${err.message}`
      await io.quarantine(from, src, reason, src.snapshot == null)
      return { state: 'invalid', reason, record: { ...base, state: 'invalid', reason, timeMs: io.now() } }
    }
    const verdict = await io.validate(tmp, opts.signal)
    if (!verdict.ok) {
      const reason = `source ${src.path} failed validation: ${verdict.reason}`
      // a file of the data dir goes to quarantine; for a live database (its writer has it open) its snapshot does
      await io.quarantine(src.snapshot == null ? from : tmp, src, reason, src.snapshot == null)
      return { state: 'invalid', reason, record: { ...base, state: 'invalid', reason, timeMs: io.now() } }
    }
    opts.signal.throwIfAborted()
    let result: MergeResult
    try {
      result = mergeSnapshot(db, tmp, rule.tables, opts.logInTarget ? { sourcePath: src.path, sha256: src.sha256, origin: src.origin, version: src.version, mergedMs: io.now() } : undefined)
    } catch (err) {
      if (err instanceof MergeSchemaError || err instanceof MergeCountError || refusedBySqlite(err)) {
        const reason = `source ${src.path}: ${errorMessage(err)}`
        return { state: 'failed', reason, record: { ...base, state: 'failed', reason, timeMs: io.now() } }
      }
      throw err
    }
    const tables = Object.fromEntries(result.tables.map((t) => [t.table, { added: t.added, sourceRows: t.sourceRows, upTo: t.upTo }]))
    return {
      state: 'merged',
      result,
      record: { ...base, state: 'merged', rowsAdded: result.rowsAdded, rowsUpdated: result.rowsUpdated, conflicts: result.conflicts, tables, timeMs: io.now() },
    }
  } finally {
    for (const suffix of ['', '-journal', '-wal', '-shm']) await rm(`${tmp}${suffix}`, { force: true })
  }
}

/**
 * SQLite refused this source's rows (a constraint of the target, a column it
 * cannot take): the same version fails the same way every time, so it is
 * recorded and the other sources go on. Busy, I/O and full-disk errors are
 * not: the pass is retried.
 */
function refusedBySqlite(err: unknown): boolean {
  const code = (err as { code?: unknown }).code
  if (typeof code !== 'string') return false
  return code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH' || code === 'SQLITE_TOOBIG' || code === 'SQLITE_ERROR'
}
