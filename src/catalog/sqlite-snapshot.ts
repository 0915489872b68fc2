import { open, rm, stat } from 'node:fs/promises'
import Database from 'better-sqlite3'
import type { Database as Db } from 'better-sqlite3'
import { BusyError, InternalError, isAbort, ValidationError } from '../util/errors.js'

/**
 * Consistent snapshots of SQLite databases that another process may be
 * writing (self-play workers keep their game databases open in WAL mode).
 *
 * Copying the file is wrong twice over: in WAL mode the newest rows live only
 * in the -wal file, and a copy taken during a write or checkpoint is torn.
 * Instead the source is opened read-only, a read transaction pins one
 * snapshot, and SQLite's online backup API copies it page by page into the
 * destination (a few MiB per step, yielding to the event loop in between).
 * Because the read transaction stays open across steps, writes by other
 * connections never restart the backup (without it, each such write restarts
 * it from page 1, which never ends under a steady writer); in WAL mode writers
 * are not blocked at all. In rollback-journal mode a writer's commit waits
 * (busy timeout) until the copy ends, as it would for any reader.
 *
 * The backup copies page 1 verbatim, so a copy of a WAL database is marked WAL
 * too; the destination is then switched to journal_mode=DELETE so the shipped
 * file is one plain database that needs no -wal or -shm to be read.
 * (`VACUUM INTO` would also give a consistent, rollback-mode copy, compacted,
 * but in one synchronous statement that blocks the event loop for the whole
 * copy and cannot be aborted.)
 */

/** Pages copied per backup step (4 MiB at the default 4 KiB page size). */
const PAGES_PER_STEP = 1024
const BUSY_TIMEOUT_MS = 5000

/** A database header (first 20+ bytes) says WAL mode: file format write and read versions are both 2. */
export function isWalMode(head: Uint8Array): boolean {
  return head.length >= 20 && head[18] === 2 && head[19] === 2
}

/**
 * Writes a consistent snapshot of `src` to `dest`, which must not exist (the
 * caller gives a staging path and renames it after). Never changes the
 * source's content: it is opened read-only (read-write only when SQLite needs
 * to recover it first, e.g. a hot journal left by a crashed writer; recovery
 * restores the last committed state and changes no committed row). The
 * result is a single-file rollback-journal database, fsynced.
 * Throws BusyError when the source stays locked, ValidationError when it is
 * not a valid database; on any failure or abort `dest` is removed.
 */
export async function snapshotSqlite(src: string, dest: string, opts: { signal?: AbortSignal } = {}): Promise<{ pageCount: number }> {
  const { signal } = opts
  signal?.throwIfAborted()
  await stat(src) // a missing source is an I/O error (ENOENT), reported before dest is created
  // Claim dest atomically: an existing file is never overwritten.
  try {
    await (await open(dest, 'wx')).close()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new InternalError(`snapshot destination ${dest} already exists`)
    throw err
  }
  let source: Db | undefined
  try {
    source = openSource(src)
    source.exec('BEGIN')
    // a deferred transaction takes its read snapshot at the first read
    source.prepare('SELECT count(*) FROM sqlite_schema').get()
    await source.backup(dest, {
      progress: () => {
        signal?.throwIfAborted()
        return PAGES_PER_STEP
      },
    })
    source.exec('COMMIT')
    source.close()
    source = undefined
    signal?.throwIfAborted()

    let pageCount: number
    const out = new Database(dest, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS })
    try {
      out.pragma('journal_mode = DELETE')
      const mode = out.pragma('journal_mode', { simple: true })
      if (mode !== 'delete') throw new InternalError(`snapshot ${dest}: journal_mode is ${String(mode)}, expected delete`)
      pageCount = out.pragma('page_count', { simple: true }) as number
    } finally {
      out.close()
    }
    const fh = await open(dest, 'r+')
    try {
      await fh.sync()
    } finally {
      await fh.close()
    }
    return { pageCount }
  } catch (err) {
    if (source?.open) {
      try {
        source.close()
      } catch {
        // closing after a failed backup: nothing more to do
      }
    }
    await removeSnapshot(dest)
    throw mapError(src, err)
  }
}

function openSource(src: string): Db {
  try {
    return configure(new Database(src, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS }))
  } catch (err) {
    const code = (err as { code?: unknown }).code
    // a read-only connection cannot roll back a hot journal or rebuild a WAL index
    if (typeof code === 'string' && code.startsWith('SQLITE_READONLY')) {
      return configure(new Database(src, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS }))
    }
    throw err
  }
}

function configure(db: Db): Db {
  try {
    db.pragma('query_only = 1')
    db.pragma('trusted_schema = OFF')
    // touch the schema now so recovery or a read-only failure shows up here
    db.prepare('SELECT count(*) FROM sqlite_schema').get()
    return db
  } catch (err) {
    db.close()
    throw err
  }
}

async function removeSnapshot(dest: string): Promise<void> {
  for (const suffix of ['', '-journal', '-wal', '-shm']) await rm(`${dest}${suffix}`, { force: true })
}

function mapError(src: string, err: unknown): unknown {
  if (isAbort(err) || !(err instanceof Error)) return err
  const code = (err as { code?: unknown }).code
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return err
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new BusyError(`snapshot of ${src}: database is locked (${err.message})`)
  }
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return new ValidationError(`snapshot of ${src}: ${err.message}`, { cause: err })
  }
  return new InternalError(`snapshot of ${src}: ${err.message} (${code})`, { cause: err })
}
