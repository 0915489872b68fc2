import type { Db } from '../state/db.js'

/** One source version and what became of it in one target. */
export interface MergedSource {
  merge: string
  target: string
  sha256: string
  sourcePath: string
  origin: string
  version: number
  state: 'merged' | 'invalid' | 'failed'
  rowsAdded: number
  rowsUpdated: number
  conflicts: number
  tables?: Record<string, { added: number; sourceRows: number; upTo?: number }>
  reason?: string
  timeMs: number
}

/** A target's state after its last merge pass. */
export interface TargetState {
  merge: string
  target: string
  mode: 'build' | 'converge'
  rowsTotal: number
  tables: Record<string, number>
  contentHash: string
  countOk: boolean
  sources: number
  timeMs: number
}

interface SourceRow {
  merge: string
  target: string
  sha256: string
  source_path: string
  origin: string
  version: number
  state: MergedSource['state']
  rows_added: number
  rows_updated: number
  conflicts: number
  tables: string | null
  reason: string | null
  time_ms: number
}

interface TargetRow {
  merge: string
  target: string
  mode: TargetState['mode']
  rows_total: number
  tables: string
  content_hash: string
  count_ok: number
  sources: number
  time_ms: number
}

/**
 * Provenance of merged targets in the node's state database: for `meshsync
 * merges` and GET /merges, and, for converge targets, the record of which
 * peer versions are already in. (A build target also logs its sources in its
 * own meshsync_merge_log table, in the transaction that adds their rows: that
 * log decides what is merged; this table mirrors it after the commit.)
 */
export class Provenance {
  readonly #db: Db

  constructor(db: Db) {
    this.#db = db
  }

  record(s: MergedSource): void {
    this.#db
      .prepare(
        `INSERT INTO merge_sources (merge, target, sha256, source_path, origin, version, state, rows_added, rows_updated, conflicts, tables, reason, time_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(merge, target, sha256) DO UPDATE SET state = excluded.state, rows_added = excluded.rows_added, rows_updated = excluded.rows_updated,
           conflicts = excluded.conflicts, tables = excluded.tables, reason = excluded.reason, time_ms = excluded.time_ms`,
      )
      .run(s.merge, s.target, s.sha256, s.sourcePath, s.origin, s.version, s.state, s.rowsAdded, s.rowsUpdated, s.conflicts, s.tables != null ? JSON.stringify(s.tables) : null, s.reason ?? null, s.timeMs)
  }

  /** SHA-256s recorded for a target (any state: an invalid version is not tried again). */
  known(merge: string, target: string): Map<string, MergedSource['state']> {
    const rows = this.#db.prepare(`SELECT sha256, state FROM merge_sources WHERE merge = ? AND target = ?`).all(merge, target) as { sha256: string; state: MergedSource['state'] }[]
    return new Map(rows.map((r) => [r.sha256, r.state]))
  }

  /** A failed attempt is retried on the next pass: forget it. */
  forgetFailed(merge: string, target: string, sha256: string): void {
    this.#db.prepare(`DELETE FROM merge_sources WHERE merge = ? AND target = ? AND sha256 = ? AND state = 'failed'`).run(merge, target, sha256)
  }

  setTarget(t: TargetState): void {
    this.#db
      .prepare(
        `INSERT INTO merge_targets (merge, target, mode, rows_total, tables, content_hash, count_ok, sources, time_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(merge, target) DO UPDATE SET mode = excluded.mode, rows_total = excluded.rows_total, tables = excluded.tables,
           content_hash = excluded.content_hash, count_ok = excluded.count_ok, sources = excluded.sources, time_ms = excluded.time_ms`,
      )
      .run(t.merge, t.target, t.mode, t.rowsTotal, JSON.stringify(t.tables), t.contentHash, t.countOk ? 1 : 0, t.sources, t.timeMs)
  }

  targets(): TargetState[] {
    return (this.#db.prepare(`SELECT * FROM merge_targets ORDER BY merge, target`).all() as TargetRow[]).map((r) => ({
      merge: r.merge,
      target: r.target,
      mode: r.mode,
      rowsTotal: r.rows_total,
      tables: JSON.parse(r.tables) as Record<string, number>,
      contentHash: r.content_hash,
      countOk: r.count_ok === 1,
      sources: r.sources,
      timeMs: r.time_ms,
    }))
  }

  sources(filter: { merge?: string; target?: string } = {}): MergedSource[] {
    const rows = this.#db
      .prepare(`SELECT * FROM merge_sources WHERE (@merge IS NULL OR merge = @merge) AND (@target IS NULL OR target = @target) ORDER BY merge, target, time_ms, source_path`)
      .all({ merge: filter.merge ?? null, target: filter.target ?? null }) as SourceRow[]
    return rows.map((r) => ({
      merge: r.merge,
      target: r.target,
      sha256: r.sha256,
      sourcePath: r.source_path,
      origin: r.origin,
      version: r.version,
      state: r.state,
      rowsAdded: r.rows_added,
      rowsUpdated: r.rows_updated,
      conflicts: r.conflicts,
      tables: r.tables != null ? (JSON.parse(r.tables) as MergedSource['tables']) : undefined,
      reason: r.reason ?? undefined,
      timeMs: r.time_ms,
    }))
  }
}
