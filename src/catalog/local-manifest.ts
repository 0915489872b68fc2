import type { Statement } from 'better-sqlite3'
import { comparePaths, entryDigest, xorInto, type ManifestDelta, type ManifestEntry, type ManifestPage, type ManifestSource } from '../../protocols/manifest/index.js'
import type { Kind } from '../config/schema.js'
import { durably, type Db } from '../state/db.js'

/** What the catalog knows about a local file beyond its manifest entry. */
export interface LocalFile extends ManifestEntry {
  ino: number
  /** Local modification time, to notice changes without rehashing (mtimeMs is the origin's). */
  localMtimeMs: number
  chunkSize: number
  chunkHashes: Buffer
  /** Internal file served instead of `path` (a consistent snapshot of a live SQLite db), relative to the state dir. */
  snapshot?: string
  facts?: unknown
  readyMs: number
}

interface FileRow {
  path: string
  size: number
  mtime_ms: number
  entry_mtime_ms: number
  ino: number
  kind: string
  state: string
  sha256: Buffer | null
  chunk_size: number | null
  chunk_hashes: Buffer | null
  chunk_root: Buffer | null
  facts: string | null
  origin: string
  version: number
  snapshot: string | null
  info_hash: Buffer | null
  promoted: number
  first_seen_ms: number
  changed_ms: number
  ready_ms: number | null
}

/** A change waiting to be gossiped: the entry, or null for a removal. */
interface Change {
  seq: number
  entry: ManifestEntry | null
}

const EMPTY_DIGEST = '0'.repeat(64)

/**
 * The node's own manifest: the files under its data dir that are complete,
 * verified and announced. It lives in the `files` table (state 'ready'); each
 * change bumps the manifest seq in the same transaction, and is kept until
 * the gossip loop takes it as a delta.
 */
export class LocalManifest implements ManifestSource {
  readonly #db: Db
  readonly #self: string
  readonly #byPath = new Map<string, LocalFile>()
  readonly #bySha = new Map<string, Set<string>>()
  readonly #digest = Buffer.alloc(32)
  readonly #pending = new Map<string, Change>()
  /** Manifest seq at which each path was last put in this process (paths loaded at start: 0). */
  readonly #committed = new Map<string, number>()
  /** Paths a landing is putting in place right now (renamed or about to be, not yet committed). */
  readonly #landing = new Map<string, number>()
  #seq: number
  #publishedSeq: number
  readonly #setSeq: Statement
  readonly #upsert: Statement
  readonly #delete: Statement
  readonly #listeners = new Set<(entry: ManifestEntry, removed: boolean) => void>()

  constructor(db: Db, selfPeerId: string) {
    this.#db = db
    this.#self = selfPeerId
    const seq = db.prepare(`SELECT value FROM meta WHERE key = 'manifest_seq'`).get() as { value: string } | undefined
    this.#seq = seq != null ? Number(seq.value) : 0
    // after a restart every receiver may have missed the last deltas: health carries the seq and they pull
    this.#publishedSeq = this.#seq
    this.#setSeq = db.prepare(`INSERT INTO meta (key, value) VALUES ('manifest_seq', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`)
    this.#upsert = db.prepare(`
      INSERT INTO files (path, size, mtime_ms, entry_mtime_ms, ino, kind, state, sha256, chunk_size, chunk_hashes, chunk_root, facts, origin, version, snapshot, info_hash, promoted, first_seen_ms, changed_ms, ready_ms)
      VALUES (@path, @size, @mtime_ms, @entry_mtime_ms, @ino, @kind, 'ready', @sha256, @chunk_size, @chunk_hashes, @chunk_root, @facts, @origin, @version, @snapshot, @info_hash, @promoted, @now, @now, @now)
      ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ms = excluded.mtime_ms, entry_mtime_ms = excluded.entry_mtime_ms, ino = excluded.ino, kind = excluded.kind, state = 'ready',
        sha256 = excluded.sha256, chunk_size = excluded.chunk_size, chunk_hashes = excluded.chunk_hashes, chunk_root = excluded.chunk_root,
        facts = excluded.facts, origin = excluded.origin, version = excluded.version, snapshot = excluded.snapshot, info_hash = excluded.info_hash,
        promoted = excluded.promoted, changed_ms = excluded.changed_ms, ready_ms = excluded.ready_ms, reason = NULL`)
    this.#delete = db.prepare(`DELETE FROM files WHERE path = ?`)
    for (const row of db.prepare(`SELECT * FROM files WHERE state = 'ready'`).all() as FileRow[]) {
      const f = fromRow(row)
      this.#index(f)
    }
  }

  get self(): string {
    return this.#self
  }
  get seq(): number {
    return this.#seq
  }
  get count(): number {
    return this.#byPath.size
  }
  get digest(): string {
    return this.#byPath.size === 0 ? EMPTY_DIGEST : this.#digest.toString('hex')
  }

  get(path: string): LocalFile | undefined {
    return this.#byPath.get(path)
  }

  /** Local files with this content (usually one). */
  bySha(sha256: string): LocalFile[] {
    const paths = this.#bySha.get(sha256)
    if (paths == null) return []
    return [...paths].map((p) => this.#byPath.get(p)!).filter((f) => f != null)
  }

  has(sha256: string): boolean {
    return (this.#bySha.get(sha256)?.size ?? 0) > 0
  }

  all(): IterableIterator<LocalFile> {
    return this.#byPath.values()
  }

  /** Called for every change, after it is committed (observers: events, replication). */
  onChange(fn: (entry: ManifestEntry, removed: boolean) => void): () => void {
    this.#listeners.add(fn)
    return () => this.#listeners.delete(fn)
  }

  /**
   * Adds or replaces the file at `f.path` and bumps the manifest seq, in one
   * durable transaction: once this returns, the file is announced even across
   * a crash.
   */
  put(f: Omit<LocalFile, 'readyMs'>, now: number): LocalFile {
    const file: LocalFile = { ...f, readyMs: now }
    durably(this.#db, () => {
      this.#upsert.run({
        path: f.path,
        size: f.size,
        mtime_ms: f.localMtimeMs,
        entry_mtime_ms: Math.floor(f.mtimeMs),
        ino: f.ino,
        kind: f.kind,
        sha256: Buffer.from(f.sha256, 'hex'),
        chunk_size: f.chunkSize,
        chunk_hashes: f.chunkHashes,
        chunk_root: Buffer.from(f.chunkRoot, 'hex'),
        facts: f.facts != null ? JSON.stringify(f.facts) : null,
        origin: f.origin,
        version: f.version,
        snapshot: f.snapshot ?? null,
        info_hash: f.infoHash != null ? Buffer.from(f.infoHash, 'hex') : null,
        promoted: f.promoted ? 1 : 0,
        now,
      })
      this.#bump()
    })
    const old = this.#byPath.get(f.path)
    if (old != null) this.#unindex(old)
    this.#index(file)
    this.#committed.set(f.path, this.#seq)
    this.#pending.set(f.path, { seq: this.#seq, entry: toEntry(file) })
    for (const fn of this.#listeners) fn(toEntry(file), false)
    return file
  }

  /**
   * The manifest seq at which `path` was last put by this process (0 for an
   * entry loaded at start, or none). A scan that began at seq S did not
   * necessarily see a file whose entry is newer than S.
   */
  committedSeq(path: string): number {
    return this.#committed.get(path) ?? 0
  }

  /**
   * Marks `path` as being landed (a verified replica is renamed into place and
   * then committed); the scanner leaves such a path alone. Returns the release.
   */
  beginLanding(path: string): () => void {
    this.#landing.set(path, (this.#landing.get(path) ?? 0) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const n = (this.#landing.get(path) ?? 1) - 1
      if (n <= 0) this.#landing.delete(path)
      else this.#landing.set(path, n)
    }
  }

  isLanding(path: string): boolean {
    return this.#landing.has(path)
  }

  /** Updates only the local bookkeeping of a file (inode and mtime after a rename), not its entry. */
  touch(path: string, ino: number, mtimeMs: number): void {
    const f = this.#byPath.get(path)
    if (f == null) return
    f.ino = ino
    f.localMtimeMs = mtimeMs
    this.#db.prepare(`UPDATE files SET ino = ?, mtime_ms = ? WHERE path = ?`).run(ino, mtimeMs, path)
  }

  /** Removes the file from the manifest (the caller deals with the bytes). */
  remove(path: string): LocalFile | undefined {
    const old = this.#byPath.get(path)
    if (old == null) {
      this.#delete.run(path)
      return undefined
    }
    durably(this.#db, () => {
      this.#delete.run(path)
      this.#bump()
    })
    this.#unindex(old)
    this.#committed.delete(path)
    this.#pending.set(path, { seq: this.#seq, entry: null })
    for (const fn of this.#listeners) fn(toEntry(old), true)
    return old
  }

  /** Changes not yet gossiped, as deltas of at most `maxEntries`, oldest first. */
  takeDeltas(maxEntries: number, now: number): ManifestDelta[] {
    if (this.#pending.size === 0) return []
    const changes = [...this.#pending.entries()].sort((a, b) => a[1].seq - b[1].seq)
    this.#pending.clear()
    const out: ManifestDelta[] = []
    let prev = this.#publishedSeq
    for (let i = 0; i < changes.length; i += maxEntries) {
      const slice = changes.slice(i, i + maxEntries)
      const seq = slice[slice.length - 1]![1].seq
      out.push({
        seq,
        prevSeq: prev,
        timeMs: now,
        upserts: slice.flatMap(([, c]) => (c.entry != null ? [c.entry] : [])),
        removed: slice.flatMap(([path, c]) => (c.entry == null ? [path] : [])),
      })
      prev = seq
    }
    this.#publishedSeq = prev
    return out
  }

  page(after: string, limit: number): ManifestPage {
    const sorted = [...this.#byPath.keys()].sort(comparePaths)
    let start = 0
    if (after !== '') {
      // first path strictly after the cursor
      let lo = 0
      let hi = sorted.length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if (comparePaths(sorted[mid]!, after) <= 0) lo = mid + 1
        else hi = mid
      }
      start = lo
    }
    const slice = sorted.slice(start, start + limit)
    return {
      seq: this.#seq,
      entries: slice.map((p) => toEntry(this.#byPath.get(p)!)),
      more: start + limit < sorted.length,
      digest: this.digest,
      count: sorted.length,
    }
  }

  #bump(): void {
    this.#seq += 1
    this.#setSeq.run(String(this.#seq))
  }

  #index(f: LocalFile): void {
    this.#byPath.set(f.path, f)
    let s = this.#bySha.get(f.sha256)
    if (s == null) {
      s = new Set()
      this.#bySha.set(f.sha256, s)
    }
    s.add(f.path)
    xorInto(this.#digest, entryDigest(toEntry(f)))
  }

  #unindex(f: LocalFile): void {
    this.#byPath.delete(f.path)
    const s = this.#bySha.get(f.sha256)
    s?.delete(f.path)
    if (s?.size === 0) this.#bySha.delete(f.sha256)
    xorInto(this.#digest, entryDigest(toEntry(f)))
  }
}

export function toEntry(f: LocalFile): ManifestEntry {
  return {
    path: f.path,
    sha256: f.sha256,
    size: f.size,
    kind: f.kind,
    origin: f.origin,
    version: f.version,
    mtimeMs: Math.floor(f.mtimeMs),
    chunkRoot: f.chunkRoot,
    infoHash: f.infoHash,
    promoted: f.promoted,
  }
}

function fromRow(r: FileRow): LocalFile {
  return {
    path: r.path,
    sha256: r.sha256!.toString('hex'),
    size: r.size,
    kind: r.kind as Kind,
    origin: r.origin,
    version: r.version,
    mtimeMs: r.entry_mtime_ms,
    localMtimeMs: r.mtime_ms,
    chunkRoot: r.chunk_root!.toString('hex'),
    infoHash: r.info_hash?.toString('hex'),
    promoted: r.promoted === 1,
    ino: r.ino,
    chunkSize: r.chunk_size!,
    chunkHashes: r.chunk_hashes!,
    snapshot: r.snapshot ?? undefined,
    facts: r.facts != null ? JSON.parse(r.facts) : undefined,
    readyMs: r.ready_ms ?? r.changed_ms,
  }
}
