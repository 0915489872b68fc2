import { randomBytes } from 'node:crypto'
import { copyFile, rename, rm, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import type { Db } from '../state/db.js'
import type { EventLog } from '../state/event-log.js'
import type { Clock } from '../util/clock.js'
import { MeshsyncError, NotFoundError } from '../util/errors.js'
import { fsyncDir, prepareTarget, writeFileAtomic } from '../util/fs.js'

export interface QuarantineRecord {
  id: string
  timeMs: number
  /** Original name, relative to the data dir. */
  path: string
  /** File name inside the quarantine folder. */
  stored: string
  /** What the bytes hash to (when known). */
  sha256?: string
  /** What the manifest said they should hash to. */
  expectedSha256?: string
  size: number
  kind: string
  reason: string
  sourcePeer?: string
  /** Who found it bad: 'source', a node its own file; 'receiver', a download that failed its checks. */
  foundBy: FoundBy
  /** @deprecated the old name of `foundBy` (it holds no place or time), kept in the JSON for one release. */
  foundAt: FoundBy
  state: 'held' | 'released' | 'purged'
}

export type FoundBy = 'source' | 'receiver'

/** What a caller records; `foundAt` is accepted as the old name of `foundBy` for one release. */
export type QuarantineInput = Omit<QuarantineRecord, 'id' | 'timeMs' | 'stored' | 'state' | 'size' | 'foundBy' | 'foundAt'> &
  ({ foundBy: FoundBy; foundAt?: undefined } | { foundAt: FoundBy; foundBy?: undefined })

interface Row {
  id: string
  time_ms: number
  path: string
  stored: string
  sha256: string | null
  expected_sha256: string | null
  size: number
  kind: string
  reason: string
  source_peer: string | null
  found_at: 'source' | 'receiver'
  state: QuarantineRecord['state']
}

/**
 * The quarantine folder: files that failed their checks, kept (never deleted
 * silently) with a record of why, in manifest.json beside them and in SQLite.
 * Operators list, release (back into the data dir) or purge them.
 */
export class Quarantine {
  readonly #dir: string
  readonly #dataDir: string
  readonly #db: Db
  readonly #clock: Clock
  readonly #events: EventLog

  constructor(init: { dir: string; dataDir: string; db: Db; clock: Clock; events: EventLog }) {
    this.#dir = init.dir
    this.#dataDir = init.dataDir
    this.#db = init.db
    this.#clock = init.clock
    this.#events = init.events
  }

  /** Moves `abs` into quarantine and records why. */
  async add(abs: string, input: QuarantineInput): Promise<QuarantineRecord> {
    const foundBy: FoundBy = input.foundBy ?? input.foundAt
    const rec = { ...input, foundBy, foundAt: foundBy }
    const timeMs = this.#clock.now()
    const id = `${timeMs.toString(36)}-${randomBytes(4).toString('hex')}`
    const stored = `${id}__${basename(rec.path).slice(0, 120)}`
    const size = (await stat(abs)).size
    const dest = join(this.#dir, stored)
    try {
      await rename(abs, dest)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err
      await copyFile(abs, dest)
      await rm(abs, { force: true })
    }
    await fsyncDir(this.#dir)
    const record: QuarantineRecord = { ...rec, id, timeMs, stored, size, state: 'held' }
    this.#db
      .prepare(
        `INSERT INTO quarantine (id, time_ms, path, stored, sha256, expected_sha256, size, kind, reason, source_peer, found_at, state)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'held')`,
      )
      .run(id, timeMs, rec.path, stored, rec.sha256 ?? null, rec.expectedSha256 ?? null, size, rec.kind, rec.reason, rec.sourcePeer ?? null, foundBy)
    await this.#writeManifest()
    this.#events.emit('quarantined', {
      path: rec.path,
      sha256: rec.sha256,
      expectedSha256: rec.expectedSha256,
      peer: rec.sourcePeer,
      reason: rec.reason,
      foundBy,
      foundAt: foundBy, // old name, for one release
      quarantineId: id,
    })
    return record
  }

  list(all = false): QuarantineRecord[] {
    const rows = this.#db.prepare(`SELECT * FROM quarantine ${all ? '' : "WHERE state = 'held'"} ORDER BY time_ms`).all() as Row[]
    return rows.map(fromRow)
  }

  get(id: string): QuarantineRecord {
    const row = this.#db.prepare(`SELECT * FROM quarantine WHERE id = ?`).get(id) as Row | undefined
    if (row == null) throw new NotFoundError(`no quarantined file with id ${id} (see meshsync quarantine list)`)
    return fromRow(row)
  }

  /**
   * Puts a quarantined file back under its original name: the operator has
   * decided it is good. Its content is remembered as released, so the node's
   * own checks do not quarantine it again.
   */
  async release(id: string): Promise<QuarantineRecord> {
    const rec = this.get(id)
    if (rec.state !== 'held') throw new MeshsyncError('ERR_STATE', `quarantined file ${id} is already ${rec.state}`)
    const target = await prepareTarget(this.#dataDir, rec.path)
    try {
      await stat(target)
      throw new MeshsyncError('ERR_EXISTS', `cannot release ${id}: ${rec.path} exists in the data dir; move it away first`)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    await rename(join(this.#dir, rec.stored), target)
    await fsyncDir(join(target, '..'))
    this.#db.transaction(() => {
      this.#db.prepare(`UPDATE quarantine SET state = 'released' WHERE id = ?`).run(id)
      if (rec.sha256 != null) this.#db.prepare(`INSERT OR REPLACE INTO released (sha256, time_ms) VALUES (?, ?)`).run(rec.sha256, this.#clock.now())
    })()
    await this.#writeManifest()
    return { ...rec, state: 'released' }
  }

  isReleased(sha256: string): boolean {
    return this.#db.prepare(`SELECT 1 FROM released WHERE sha256 = ?`).get(sha256) != null
  }

  /** Deletes quarantined files: one id, or all held ones older than `olderThanMs` (0 = all). */
  async purge(opts: { id?: string; olderThanMs?: number }): Promise<QuarantineRecord[]> {
    const targets = opts.id != null ? [this.get(opts.id)] : this.list().filter((r) => this.#clock.now() - r.timeMs >= (opts.olderThanMs ?? 0))
    const purged: QuarantineRecord[] = []
    for (const rec of targets) {
      if (rec.state !== 'held') continue
      await rm(join(this.#dir, rec.stored), { force: true })
      this.#db.prepare(`UPDATE quarantine SET state = 'purged' WHERE id = ?`).run(rec.id)
      purged.push({ ...rec, state: 'purged' })
    }
    if (purged.length > 0) await this.#writeManifest()
    return purged
  }

  async #writeManifest(): Promise<void> {
    const entries = this.list().map((r) => ({
      id: r.id,
      file: r.stored,
      originalName: r.path,
      sha256: r.sha256,
      expectedSha256: r.expectedSha256,
      size: r.size,
      kind: r.kind,
      reason: r.reason,
      sourcePeer: r.sourcePeer,
      foundBy: r.foundBy,
      foundAt: r.foundBy, // old name, for one release
      time: new Date(r.timeMs).toISOString(),
    }))
    await writeFileAtomic(join(this.#dir, 'manifest.json'), `${JSON.stringify({ version: 1, entries }, null, 2)}\n`)
  }
}

function fromRow(r: Row): QuarantineRecord {
  return {
    id: r.id,
    timeMs: r.time_ms,
    path: r.path,
    stored: r.stored,
    sha256: r.sha256 ?? undefined,
    expectedSha256: r.expected_sha256 ?? undefined,
    size: r.size,
    kind: r.kind,
    reason: r.reason,
    sourcePeer: r.source_peer ?? undefined,
    foundBy: r.found_at,
    foundAt: r.found_at,
    state: r.state,
  }
}
