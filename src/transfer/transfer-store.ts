import type { Statement } from 'better-sqlite3'
import type { ManifestEntry } from '../../protocols/manifest/index.js'
import type { Priority } from '../config/schema.js'
import type { Db } from '../state/db.js'

export type TransferReason = 'manual' | 'replica' | 'repair' | 'broadcast' | 'evacuation'
export type TransferState = 'queued' | 'active' | 'waiting' | 'failed'

/** A wanted file: what to fetch, where it lands, and its resume state. */
export interface TransferRow {
  entry: ManifestEntry
  chunkSize: number
  chunkHashes?: Buffer
  have?: Buffer
  staging: string
  priority: Priority
  reason: TransferReason
  state: TransferState
  attempts: number
  nextAttemptMs: number
  lastError?: string
  preferredPeer?: string
  createdMs: number
  updatedMs: number
}

interface Row {
  sha256: string
  path: string
  size: number
  kind: ManifestEntry['kind']
  origin: string
  version: number
  entry_mtime_ms: number
  chunk_root: string
  info_hash: string | null
  promoted: number
  chunk_size: number
  chunk_hashes: Buffer | null
  have: Buffer | null
  staging: string
  priority: Priority
  reason: TransferReason
  state: TransferState
  attempts: number
  next_attempt_ms: number
  last_error: string | null
  preferred_peer: string | null
  created_ms: number
  updated_ms: number
}

/** The transfers table: survives restarts, so a download resumes where it stopped. */
export class TransferStore {
  readonly #db: Db
  readonly #upsert: Statement
  readonly #saveHave: Statement
  readonly #setState: Statement
  readonly #delete: Statement

  constructor(db: Db) {
    this.#db = db
    this.#upsert = db.prepare(`
      INSERT INTO transfers (sha256, path, size, kind, origin, version, entry_mtime_ms, chunk_root, info_hash, promoted, chunk_size, chunk_hashes, have,
        staging, priority, reason, state, attempts, next_attempt_ms, last_error, preferred_peer, created_ms, updated_ms)
      VALUES (@sha256, @path, @size, @kind, @origin, @version, @entry_mtime_ms, @chunk_root, @info_hash, @promoted, @chunk_size, @chunk_hashes, @have,
        @staging, @priority, @reason, @state, @attempts, @next_attempt_ms, @last_error, @preferred_peer, @created_ms, @updated_ms)
      ON CONFLICT(sha256) DO UPDATE SET path = excluded.path, priority = excluded.priority, reason = excluded.reason, state = excluded.state,
        attempts = excluded.attempts, next_attempt_ms = excluded.next_attempt_ms, last_error = excluded.last_error,
        preferred_peer = excluded.preferred_peer, promoted = excluded.promoted, updated_ms = excluded.updated_ms`)
    this.#saveHave = db.prepare(`UPDATE transfers SET have = ?, chunk_hashes = COALESCE(?, chunk_hashes), updated_ms = ? WHERE sha256 = ?`)
    this.#setState = db.prepare(`UPDATE transfers SET state = ?, attempts = ?, next_attempt_ms = ?, last_error = ?, updated_ms = ? WHERE sha256 = ?`)
    this.#delete = db.prepare(`DELETE FROM transfers WHERE sha256 = ?`)
  }

  put(t: TransferRow): void {
    const e = t.entry
    this.#upsert.run({
      sha256: e.sha256,
      path: e.path,
      size: e.size,
      kind: e.kind,
      origin: e.origin,
      version: e.version,
      entry_mtime_ms: Math.floor(e.mtimeMs),
      chunk_root: e.chunkRoot,
      info_hash: e.infoHash ?? null,
      promoted: e.promoted ? 1 : 0,
      chunk_size: t.chunkSize,
      chunk_hashes: t.chunkHashes ?? null,
      have: t.have ?? null,
      staging: t.staging,
      priority: t.priority,
      reason: t.reason,
      state: t.state,
      attempts: t.attempts,
      next_attempt_ms: t.nextAttemptMs,
      last_error: t.lastError ?? null,
      preferred_peer: t.preferredPeer ?? null,
      created_ms: t.createdMs,
      updated_ms: t.updatedMs,
    })
  }

  saveHave(sha256: string, have: Uint8Array, chunkHashes: Uint8Array | undefined, now: number): void {
    this.#saveHave.run(Buffer.from(have), chunkHashes != null ? Buffer.from(chunkHashes) : null, now, sha256)
  }

  setState(sha256: string, s: { state: TransferState; attempts: number; nextAttemptMs: number; lastError?: string }, now: number): void {
    this.#setState.run(s.state, s.attempts, s.nextAttemptMs, s.lastError ?? null, now, sha256)
  }

  delete(sha256: string): void {
    this.#delete.run(sha256)
  }

  get(sha256: string): TransferRow | undefined {
    const r = this.#db.prepare(`SELECT * FROM transfers WHERE sha256 = ?`).get(sha256) as Row | undefined
    return r != null ? fromRow(r) : undefined
  }

  all(): TransferRow[] {
    return (this.#db.prepare(`SELECT * FROM transfers ORDER BY created_ms`).all() as Row[]).map(fromRow)
  }
}

function fromRow(r: Row): TransferRow {
  return {
    entry: {
      sha256: r.sha256,
      path: r.path,
      size: r.size,
      kind: r.kind,
      origin: r.origin,
      version: r.version,
      mtimeMs: r.entry_mtime_ms,
      chunkRoot: r.chunk_root,
      infoHash: r.info_hash ?? undefined,
      promoted: r.promoted === 1,
    },
    chunkSize: r.chunk_size,
    chunkHashes: r.chunk_hashes ?? undefined,
    have: r.have ?? undefined,
    staging: r.staging,
    priority: r.priority,
    reason: r.reason,
    state: r.state,
    attempts: r.attempts,
    nextAttemptMs: r.next_attempt_ms,
    lastError: r.last_error ?? undefined,
    preferredPeer: r.preferred_peer ?? undefined,
    createdMs: r.created_ms,
    updatedMs: r.updated_ms,
  }
}
