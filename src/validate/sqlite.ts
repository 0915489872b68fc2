import { open, rm, stat } from 'node:fs/promises'
import Database from 'better-sqlite3'
import type { Database as Db } from 'better-sqlite3'
import type { Depth, Verdict } from './types.js'

/**
 * SQLite databases: header checks first (magic, page size, whole pages, the
 * in-header page count against the file size), then SQLite itself, read-only:
 * PRAGMA integrity_check (deep) or quick_check (quick).
 *
 * Validate only files that are not live (the landing code validates staged
 * copies it produced): a read-only connection still takes locks and, in WAL
 * mode, uses the -shm file.
 *
 * WAL-mode files: SQLite reads the -wal next to the file when there is one (a
 * copied pair), so its rows count. When there is no -wal, SQLite, even
 * read-only, creates an empty -wal and a -shm next to the file before it can
 * read it. The copy-free alternatives do not work with this better-sqlite3
 * build: URI filenames (`file:x.db?immutable=1`) are off (compiled with
 * SQLITE_USE_URI=0 and opened without SQLITE_OPEN_URI, so the URI is taken as
 * a literal file name and fails with SQLITE_CANTOPEN; only the process-wide
 * SQLITE_USE_URI=1 environment variable, read once when the addon loads, would
 * turn them on), and its file-descriptor open refuses WAL databases. So we let
 * SQLite create them and, after closing, remove the ones this call created
 * (the -wal only when still empty). This needs a writable folder, which
 * staging folders are.
 */

const MAGIC = Buffer.from('SQLite format 3\0', 'latin1')
const MAX_REPORTED_LINES = 3
const MAX_REASON_CHARS = 400

export function hasSqliteMagic(head: Uint8Array): boolean {
  return head.length >= 16 && Buffer.from(head.buffer, head.byteOffset, 16).equals(MAGIC)
}

class Invalid extends Error {}

export async function validateSqlite(path: string, opts: { depth: Depth; signal?: AbortSignal }): Promise<Verdict> {
  opts.signal?.throwIfAborted()
  const walPath = `${path}-wal`
  const shmPath = `${path}-shm`
  let db: Db | undefined
  let hadWal = false
  let hadShm = false
  let opened = false
  try {
    const head = await readHeader(path)
    hadWal = await exists(walPath)
    hadShm = await exists(shmPath)
    checkHeader(head.bytes, head.size, hadWal)
    opts.signal?.throwIfAborted()

    // better-sqlite3 turns SQLITE_DBCONFIG_DEFENSIVE on for every connection it opens
    // (only db.unsafeMode() turns it off), so there is nothing to enable here.
    opened = true
    db = new Database(path, { readonly: true, fileMustExist: true })
    db.pragma('query_only = 1')
    db.pragma('trusted_schema = OFF')
    db.pragma('cell_size_check = ON')
    const pageSize = db.pragma('page_size', { simple: true }) as number
    const pageCount = db.pragma('page_count', { simple: true }) as number
    const check = opts.depth === 'deep' ? 'integrity_check' : 'quick_check'
    // both are synchronous inside SQLite: the signal is only checked around them
    const rows = db.pragma(`${check}(20)`) as Record<string, unknown>[]
    const lines = rows
      .flatMap((r) => String(Object.values(r)[0] ?? '').split('\n'))
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('*** in database'))
    if (!(lines.length === 1 && lines[0] === 'ok')) {
      const shown = lines.slice(0, MAX_REPORTED_LINES).join('; ')
      const more = lines.length > MAX_REPORTED_LINES ? ` (+${lines.length - MAX_REPORTED_LINES} more)` : ''
      throw new Invalid(`${check}: ${shown}${more}`.slice(0, MAX_REASON_CHARS))
    }
    const tables = (
      db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all() as { name: string }[]
    ).map((r) => r.name)
    opts.signal?.throwIfAborted()
    return { ok: true, kind: 'sqlite', facts: { kind: 'sqlite', pageSize, pageCount, tables } }
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, kind: 'sqlite', reason: `sqlite: ${err.message}` }
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string' && code.startsWith('SQLITE_')) {
      return { ok: false, kind: 'sqlite', reason: `sqlite: ${(err as Error).message} (${code})` }
    }
    throw err
  } finally {
    db?.close()
    if (opened) {
      if (!hadShm) await rm(shmPath, { force: true })
      if (!hadWal && (await sizeOf(walPath)) === 0) await rm(walPath, { force: true })
    }
  }
}

async function readHeader(path: string): Promise<{ bytes: Buffer; size: number }> {
  const fh = await open(path, 'r')
  try {
    const { size } = await fh.stat()
    const bytes = Buffer.alloc(Math.min(100, size))
    let done = 0
    while (done < bytes.length) {
      const { bytesRead } = await fh.read(bytes, done, bytes.length - done, done)
      if (bytesRead === 0) break
      done += bytesRead
    }
    return { bytes: bytes.subarray(0, done), size }
  } finally {
    await fh.close()
  }
}

/** The 100-byte database header (https://sqlite.org/fileformat2.html#the_database_header). */
function checkHeader(head: Buffer, size: number, hasWal: boolean): void {
  if (head.length < 100 || !hasSqliteMagic(head)) throw new Invalid('file is not a database (no SQLite header)')
  const raw = head.readUInt16BE(16)
  const pageSize = raw === 1 ? 65536 : raw
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
    throw new Invalid(`header page size ${raw} is not a power of two between 512 and 65536`)
  }
  const write = head[18]!
  const read = head[19]!
  if ((write !== 1 && write !== 2) || (read !== 1 && read !== 2)) {
    throw new Invalid(`header file format bytes are ${write}/${read}, not 1 (rollback journal) or 2 (WAL)`)
  }
  if (size % pageSize !== 0) {
    throw new Invalid(`file size ${size} is not a whole number of ${pageSize}-byte pages (truncated?)`)
  }
  // The in-header size is valid when the change counter matches version-valid-for.
  // With a -wal alongside, the WAL may hold pages past the end of the file: skip.
  const headerPages = head.readUInt32BE(28)
  const valid = headerPages > 0 && head.readUInt32BE(24) === head.readUInt32BE(92)
  if (valid && !hasWal && headerPages > size / pageSize) {
    throw new Invalid(`header says ${headerPages} pages but the file holds ${size / pageSize} (truncated)`)
  }
}

async function exists(path: string): Promise<boolean> {
  return (await sizeOf(path)) != null
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}
