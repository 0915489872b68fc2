import type { Statement } from 'better-sqlite3'
import type { Db } from '../state/db.js'

export interface SinkCopy {
  sink: string
  sha256: string
  size: number
  state: 'verified' | 'failed'
  uploadedMs: number
  verifiedMs: number
  rehashedMs: number
  reason?: string
}

interface Row {
  sink: string
  sha256: string
  size: number
  state: string
  uploaded_ms: number
  verified_ms: number
  rehashed_ms: number
  reason: string | null
}

const fromRow = (r: Row): SinkCopy => ({
  sink: r.sink,
  sha256: r.sha256,
  size: r.size,
  state: r.state === 'verified' ? 'verified' : 'failed',
  uploadedMs: r.uploaded_ms,
  verifiedMs: r.verified_ms,
  rehashedMs: r.rehashed_ms,
  reason: r.reason ?? undefined,
})

/** What this node knows of copies in sinks: only a copy whose checksum was read back is ever `verified`. */
export class SinkCopyStore {
  readonly #db: Db
  readonly #bySha: Statement

  constructor(db: Db) {
    this.#db = db
    this.#bySha = db.prepare(`SELECT * FROM sink_copies WHERE sha256 = ?`)
  }

  get(sink: string, sha256: string): SinkCopy | undefined {
    const r = this.#db.prepare(`SELECT * FROM sink_copies WHERE sink = ? AND sha256 = ?`).get(sink, sha256) as Row | undefined
    return r != null ? fromRow(r) : undefined
  }

  forSha(sha256: string): SinkCopy[] {
    return (this.#bySha.all(sha256) as Row[]).map(fromRow)
  }

  all(): SinkCopy[] {
    return (this.#db.prepare(`SELECT * FROM sink_copies`).all() as Row[]).map(fromRow)
  }

  /** Sinks whose copy of `sha256` (of `size` bytes) was verified no longer than `maxAgeMs` ago. */
  verifiedSinks(sha256: string, size: number, now: number, maxAgeMs: number): string[] {
    return this.forSha(sha256)
      .filter((c) => c.state === 'verified' && c.size === size && c.verifiedMs > 0 && now - c.verifiedMs <= maxAgeMs && c.verifiedMs <= now + 60_000)
      .map((c) => c.sink)
      .sort()
  }

  verified(sink: string, sha256: string, size: number, now: number, opts: { uploaded?: boolean; rehashed?: boolean } = {}): void {
    const prev = this.get(sink, sha256)
    this.#db
      .prepare(
        `INSERT INTO sink_copies (sink, sha256, size, state, uploaded_ms, verified_ms, rehashed_ms, reason) VALUES (?, ?, ?, 'verified', ?, ?, ?, NULL)
         ON CONFLICT(sink, sha256) DO UPDATE SET size = excluded.size, state = 'verified', uploaded_ms = excluded.uploaded_ms,
           verified_ms = excluded.verified_ms, rehashed_ms = excluded.rehashed_ms, reason = NULL`,
      )
      .run(sink, sha256, size, opts.uploaded === true || prev == null ? now : prev.uploadedMs, now, opts.rehashed === true ? now : (prev?.rehashedMs ?? 0))
  }

  failed(sink: string, sha256: string, size: number, now: number, reason: string): void {
    this.#db
      .prepare(
        `INSERT INTO sink_copies (sink, sha256, size, state, uploaded_ms, verified_ms, rehashed_ms, reason) VALUES (?, ?, ?, 'failed', ?, 0, 0, ?)
         ON CONFLICT(sink, sha256) DO UPDATE SET state = 'failed', verified_ms = 0, reason = excluded.reason`,
      )
      .run(sink, sha256, size, now, reason.slice(0, 500))
  }

  indexed(sink: string, path: string, version: number, sha256: string): boolean {
    return this.#db.prepare(`SELECT 1 FROM sink_index WHERE sink = ? AND path = ? AND version = ? AND sha256 = ?`).get(sink, path, version, sha256) != null
  }

  markIndexed(sink: string, path: string, version: number, sha256: string): void {
    this.#db.prepare(`INSERT OR REPLACE INTO sink_index (sink, path, version, sha256) VALUES (?, ?, ?, ?)`).run(sink, path, version, sha256)
  }
}
