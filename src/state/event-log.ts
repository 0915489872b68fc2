import type { Statement } from 'better-sqlite3'
import type { Clock } from '../util/clock.js'
import type { Db } from './db.js'

/** Every event type the node records; documented in the README. */
export const EVENT_TYPES = [
  'node_started',
  'node_stopping',
  'peer_joined',
  'peer_suspect',
  'peer_down',
  'node_recovered',
  'file_announced',
  'file_removed',
  'sync_started',
  'sync_completed',
  'sync_failed',
  'sync_cancelled',
  'sync_deferred',
  'sync_stalled',
  'quarantined',
  'chunk_rejected',
  'invalid_message',
  'backpressure_activated',
  'backpressure_released',
  'model_promoted',
  'model_distributed',
  'npz_export_complete',
  'replicated',
  'repair_started',
  'file_at_risk',
  'file_deleted',
  'cleanup_refused',
  'disk_level_changed',
  'evacuation_started',
  'evacuation_finished',
  'file_withheld',
  'database_merged',
  'merge_conflict',
  'merge_failed',
  'lane_fallback',
  'lane_refused',
  'backup_completed',
  'backup_failed',
  'restore_completed',
] as const
export type EventType = (typeof EVENT_TYPES)[number]

export interface MeshsyncEvent {
  id: number
  timeMs: number
  type: EventType
  peer?: string
  sha256?: string
  path?: string
  data?: Record<string, unknown>
}

export interface EventFields {
  peer?: string
  sha256?: string
  path?: string
  [key: string]: unknown
}

/**
 * The node's event log: in SQLite (kept to the newest `maxRows`), and pushed
 * to observers (the server-sent event stream, the simulation). Events are for
 * observers only; no behaviour depends on them.
 */
export class EventLog {
  readonly #clock: Clock
  readonly #insert: Statement
  readonly #prune: Statement
  readonly #listeners = new Set<(e: MeshsyncEvent) => void>()
  readonly #db: Db
  #sincePrune = 0
  /** Events that could not be written (the disk was full); observers still got them. */
  unstored = 0

  constructor(db: Db, clock: Clock, readonly maxRows = 100_000) {
    this.#db = db
    this.#clock = clock
    this.#insert = db.prepare(`INSERT INTO events (time_ms, type, peer, sha256, path, data) VALUES (?, ?, ?, ?, ?, ?)`)
    this.#prune = db.prepare(`DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?`)
  }

  emit(type: EventType, fields: EventFields = {}): MeshsyncEvent {
    const { peer, sha256, path, ...data } = fields
    const timeMs = this.#clock.now()
    const hasData = Object.keys(data).length > 0
    let id = 0
    try {
      id = Number(this.#insert.run(timeMs, type, peer ?? null, sha256 ?? null, path ?? null, hasData ? JSON.stringify(data) : null).lastInsertRowid)
      if (++this.#sincePrune >= 1000) {
        this.#sincePrune = 0
        this.#prune.run(this.maxRows)
      }
    } catch {
      // a full disk (SQLITE_FULL) must not turn an observation into a failure of what is observed:
      // the event still reaches the observers (id 0: not stored)
      this.unstored++
    }
    const event: MeshsyncEvent = { id, timeMs, type, peer, sha256, path, data: hasData ? data : undefined }
    for (const fn of this.#listeners) {
      try {
        fn(event)
      } catch {
        // an observer's failure is its own
      }
    }
    return event
  }

  subscribe(fn: (e: MeshsyncEvent) => void): () => void {
    this.#listeners.add(fn)
    return () => this.#listeners.delete(fn)
  }

  /** Events after `sinceId`, oldest first, optionally of some types. */
  list(opts: { sinceId?: number; limit?: number; types?: string[] } = {}): MeshsyncEvent[] {
    const limit = Math.max(1, Math.min(10_000, opts.limit ?? 500))
    const types = opts.types?.filter((t) => t !== '') ?? []
    const where = ['id > ?']
    const args: unknown[] = [opts.sinceId ?? 0]
    if (types.length > 0) {
      where.push(`type IN (${types.map(() => '?').join(',')})`)
      args.push(...types)
    }
    // newest `limit` after the cursor, returned oldest first
    const rows = this.#db
      .prepare(`SELECT * FROM (SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ?) ORDER BY id`)
      .all(...args, limit) as { id: number; time_ms: number; type: EventType; peer: string | null; sha256: string | null; path: string | null; data: string | null }[]
    return rows.map((r) => ({
      id: r.id,
      timeMs: r.time_ms,
      type: r.type,
      peer: r.peer ?? undefined,
      sha256: r.sha256 ?? undefined,
      path: r.path ?? undefined,
      data: r.data != null ? JSON.parse(r.data) : undefined,
    }))
  }
}
