import { createHash } from 'node:crypto'
import Database from 'better-sqlite3'
import type { Database as Db } from 'better-sqlite3'
import { MeshsyncError, ValidationError } from '../util/errors.js'
import type { TableRule } from './rules.js'

/** The merge found the target or a source in a shape it cannot merge (a key column missing, a table that is not a table). */
export class MergeSchemaError extends ValidationError {}

/** The row-count check after a merge failed: the transaction was rolled back, the target is as before. */
export class MergeCountError extends MeshsyncError {
  constructor(message: string) {
    super('ERR_MERGE_COUNT', message)
  }
}

export interface TableResult {
  table: string
  /** Rows (keys) the source brought that the target did not have. */
  added: number
  /** Target rows replaced by the source's version (newest:<column>). */
  updated: number
  /** Source rows whose key was in the target with other values. */
  conflicts: number
  /** Rows in the source and its highest rowid (how far it was merged), undefined for WITHOUT ROWID. */
  sourceRows: number
  upTo?: number
}

export interface MergeResult {
  tables: TableResult[]
  rowsAdded: number
  rowsUpdated: number
  conflicts: number
  /** Keys of conflicting rows (at most 20) for reject's event. */
  conflictKeys: { table: string; key: unknown[] }[]
}

/** Provenance written into a build target in the same transaction as its rows. */
export interface LogRow {
  sourcePath: string
  sha256: string
  origin: string
  version: number
  mergedMs: number
}

export const LOG_TABLE = 'meshsync_merge_log'
const MAX_CONFLICT_KEYS = 20

const q = (name: string): string => `"${name.replace(/"/g, '""')}"`

/**
 * Opens (creating it when missing) a merge target in place: WAL mode, so
 * readers keep seeing the last committed state while a merge runs, and
 * synchronous FULL, so a commit is on disk when it returns.
 */
export function openTarget(path: string, opts: { create: boolean }): Db {
  const db = new Database(path, { fileMustExist: !opts.create, timeout: 5000 })
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
    db.pragma('trusted_schema = OFF')
    return db
  } catch (err) {
    db.close()
    throw err
  }
}

/** The sources already merged into a build target, from its own log (authoritative: written with the rows). */
export function mergedLog(target: Db): Map<string, { sourcePath: string; origin: string; version: number; tables: Record<string, number> }> {
  const out = new Map<string, { sourcePath: string; origin: string; version: number; tables: Record<string, number> }>()
  if (!hasTable(target, 'main', LOG_TABLE)) return out
  const rows = target.prepare(`SELECT sha256, source_path, origin, version, tables FROM ${LOG_TABLE}`).all() as { sha256: string; source_path: string; origin: string; version: number; tables: string }[]
  for (const r of rows) out.set(r.sha256, { sourcePath: r.source_path, origin: r.origin, version: r.version, tables: JSON.parse(r.tables) as Record<string, number> })
  return out
}

/**
 * Merges the tables of one source database (a private consistent snapshot)
 * into the target, in one IMMEDIATE transaction: rows whose key the target
 * lacks are inserted, a key already there follows the table's conflict rule.
 * Before commit the counts are checked: the rows inserted = the source's
 * distinct keys the target lacked (counted apart, before the insert), so
 * every source key is in the target; a failed check throws MergeCountError
 * and rolls everything back. (Whole-target counts are the caller's, once
 * per pass: a count(*) of a large target per source would dominate.)
 */
export function mergeSnapshot(target: Db, snapshotPath: string, tables: TableRule[], log?: LogRow): MergeResult {
  target.prepare('ATTACH DATABASE ? AS src').run(snapshotPath)
  try {
    const run = target.transaction(() => {
      const results = tables.map((t) => mergeTable(target, t))
      const result: MergeResult = {
        tables: results.map((r) => r.result),
        rowsAdded: results.reduce((n, r) => n + r.result.added, 0),
        rowsUpdated: results.reduce((n, r) => n + r.result.updated, 0),
        conflicts: results.reduce((n, r) => n + r.result.conflicts, 0),
        conflictKeys: results.flatMap((r) => r.keys).slice(0, MAX_CONFLICT_KEYS),
      }
      if (log != null) writeLog(target, log, result)
      return result
    })
    return run.immediate()
  } finally {
    target.exec('DETACH DATABASE src')
  }
}

function writeLog(target: Db, log: LogRow, r: MergeResult): void {
  target.exec(`CREATE TABLE IF NOT EXISTS ${LOG_TABLE} (
    sha256 TEXT PRIMARY KEY, source_path TEXT NOT NULL, origin TEXT NOT NULL, version INTEGER NOT NULL,
    merged_ms INTEGER NOT NULL, rows_added INTEGER NOT NULL, tables TEXT NOT NULL)`)
  const perTable = Object.fromEntries(r.tables.map((t) => [t.table, t.added]))
  target
    .prepare(`INSERT INTO ${LOG_TABLE} (sha256, source_path, origin, version, merged_ms, rows_added, tables) VALUES (?, ?, ?, ?, ?, ?, ?)`)
    .run(log.sha256, log.sourcePath, log.origin, log.version, log.mergedMs, r.rowsAdded, JSON.stringify(perTable))
}

function mergeTable(db: Db, rule: TableRule): { result: TableResult; keys: { table: string; key: unknown[] }[] } {
  const t = q(rule.name)
  if (!hasTable(db, 'src', rule.name)) return { result: { table: rule.name, added: 0, updated: 0, conflicts: 0, sourceRows: 0 }, keys: [] }
  if (!hasTable(db, 'main', rule.name)) createLike(db, rule.name)
  const mainCols = columns(db, 'main', rule.name)
  const srcCols = new Set(columns(db, 'src', rule.name))
  for (const k of rule.key) {
    if (!mainCols.includes(k)) throw new MergeSchemaError(`table ${rule.name} of the target has no key column ${k}`)
    if (!srcCols.has(k)) throw new MergeSchemaError(`table ${rule.name} of the source has no key column ${k}`)
  }
  if (rule.conflict.kind === 'newest' && !(mainCols.includes(rule.conflict.column) && srcCols.has(rule.conflict.column))) {
    throw new MergeSchemaError(`table ${rule.name} has no column ${rule.conflict.column} (conflict rule newest:${rule.conflict.column})`)
  }
  ensureUniqueKey(db, rule)
  const cols = mainCols.filter((c) => srcCols.has(c))
  const rest = cols.filter((c) => !rule.key.includes(c))
  const keyList = rule.key.map(q).join(', ')
  const on = rule.key.map((k) => `m.${q(k)} = s.${q(k)}`).join(' AND ')
  const differs = rest.length > 0 ? `NOT (${rest.map((c) => `s.${q(c)} IS m.${q(c)}`).join(' AND ')})` : '0'

  const hasRowid = rowidTable(db, rule.name)
  const upTo = hasRowid ? ((db.prepare(`SELECT max(rowid) AS m FROM src.${t}`).get() as { m: number | null }).m ?? 0) : undefined
  // one pass over the source (the target's key is unique: one joined row per source row): its rows, its keys the
  // target lacks, and its rows that differ from the target's row with their key (a source whose key is unique
  // counts rows; one with repeated keys counts distinct keys apart). Nothing here reads the whole target.
  const k0 = `m.${q(rule.key[0]!)}`
  const pass = db
    .prepare(`SELECT count(*) FILTER (WHERE ${k0} IS NULL), count(*) FILTER (WHERE ${k0} IS NOT NULL AND ${differs}), count(*) FROM src.${t} s LEFT JOIN main.${t} m ON ${on}`)
    .raw()
    .get() as number[]
  const sourceRows = Number(pass[2])
  const expectedNew = hasUniqueKey(db, 'src', rule)
    ? Number(pass[0])
    : count(db, `SELECT count(*) FROM (SELECT DISTINCT ${keyList} FROM src.${t}) s WHERE NOT EXISTS (SELECT 1 FROM main.${t} m WHERE ${on})`)
  const conflicts = Number(pass[1])
  const keys =
    conflicts > 0 && rule.conflict.kind === 'reject'
      ? (db.prepare(`SELECT ${rule.key.map((k) => `s.${q(k)}`).join(', ')} FROM src.${t} s JOIN main.${t} m ON ${on} WHERE ${differs} LIMIT ${MAX_CONFLICT_KEYS}`).raw().all() as unknown[][]).map((key) => ({
          table: rule.name,
          key,
        }))
      : []

  const colList = cols.map(q).join(', ')
  // the keys the target lacks: each inserted once (the first of a repeated key)
  const added = db.prepare(`INSERT INTO main.${t} (${colList}) SELECT ${colList} FROM src.${t} WHERE true ON CONFLICT DO NOTHING`).run().changes
  if (added !== expectedNew) {
    throw new MergeCountError(`table ${rule.name}: ${added} rows added but the source has ${expectedNew} keys the target lacked`)
  }
  // every source key is now in the target: the rows inserted came from the source, each with a key the target lacked,
  // and as many were inserted as the source had such keys, so none of them is left out
  let updated = 0
  if (rule.conflict.kind === 'newest' && rest.length > 0) {
    const c = q(rule.conflict.column)
    const tie = (a: string) => cols.map((x) => `quote(${a}.${q(x)})`).join(" || char(31) || ")
    const wins = `(excluded.${c} IS NOT NULL AND cur.${c} IS NULL) OR excluded.${c} > cur.${c} OR (excluded.${c} IS cur.${c} AND ${tie('excluded')} > ${tie('cur')})`
    const set = rest.map((x) => `${q(x)} = excluded.${q(x)}`).join(', ')
    // every key is in the target now: a source row replaces the target's where it wins (a per-key maximum)
    updated = db.prepare(`INSERT INTO main.${t} AS cur (${colList}) SELECT ${colList} FROM src.${t} WHERE true ON CONFLICT(${keyList}) DO UPDATE SET ${set} WHERE ${wins}`).run().changes
  }
  return { result: { table: rule.name, added, updated, conflicts, sourceRows, upTo }, keys }
}

function count(db: Db, sql: string): number {
  return Number((db.prepare(sql).raw().get() as unknown[])[0])
}

function hasTable(db: Db, schema: string, name: string): boolean {
  return db.prepare(`SELECT 1 FROM ${schema}.sqlite_schema WHERE type = 'table' AND name = ?`).get(name) != null
}

function columns(db: Db, schema: string, table: string): string[] {
  return (db.prepare(`SELECT name FROM pragma_table_info(?, ?)`).all(table, schema) as { name: string }[]).map((r) => r.name)
}

function rowidTable(db: Db, table: string): boolean {
  const sql = (db.prepare(`SELECT sql FROM main.sqlite_schema WHERE type = 'table' AND name = ?`).get(table) as { sql: string } | undefined)?.sql ?? ''
  return !/\)\s*WITHOUT\s+ROWID\s*;?\s*$/i.test(sql)
}

/** Creates a table the target lacks with the source's definition, and the source's indexes on it. */
function createLike(db: Db, table: string): void {
  const rows = db.prepare(`SELECT type, sql FROM src.sqlite_schema WHERE tbl_name = ? AND type IN ('table', 'index') AND sql IS NOT NULL ORDER BY type DESC`).all(table) as { type: string; sql: string }[]
  for (const r of rows) {
    const expected = r.type === 'table' ? /^CREATE\s+TABLE\s/i : /^CREATE\s+(UNIQUE\s+)?INDEX\s/i
    if (!expected.test(r.sql)) throw new MergeSchemaError(`source schema of ${table}: not a plain CREATE ${r.type.toUpperCase()} statement`)
    // prepare() takes one statement only: a schema text smuggling a second one fails here
    db.prepare(r.sql).run()
  }
}

/** Whether the table has a unique index on exactly the key columns (its primary key or a unique index). */
function hasUniqueKey(db: Db, schema: 'main' | 'src', rule: TableRule): boolean {
  const want = [...rule.key].sort().join('\0')
  const pk = (db.prepare(`SELECT name, pk FROM pragma_table_info(?, ?) WHERE pk > 0 ORDER BY pk`).all(rule.name, schema) as { name: string }[]).map((r) => r.name)
  if ([...pk].sort().join('\0') === want) return true
  for (const ix of db.prepare(`SELECT name FROM pragma_index_list(?, ?) WHERE "unique" = 1 AND partial = 0`).all(rule.name, schema) as { name: string }[]) {
    const cols = (db.prepare(`SELECT name FROM pragma_index_info(?, ?)`).all(ix.name, schema) as { name: string | null }[]).map((r) => r.name)
    if (cols.every((c) => c != null) && [...cols].sort().join('\0') === want) return true
  }
  return false
}

/** ON CONFLICT needs a unique index on exactly the key columns: the primary key, a unique index, or one made here. */
function ensureUniqueKey(db: Db, rule: TableRule): void {
  if (hasUniqueKey(db, 'main', rule)) return
  db.exec(`CREATE UNIQUE INDEX main.${q(`meshsync_key_${rule.name}`)} ON ${q(rule.name)} (${rule.key.map(q).join(', ')})`)
}

/**
 * A hash of the rows of the merged tables, in key order, independent of how
 * they are stored: two databases with the same rows have the same content
 * hash even where their file bytes differ (page layout follows insert order).
 */
export function contentHash(db: Db, tables: TableRule[]): string {
  const h = createHash('sha256')
  for (const rule of [...tables].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    h.update(`table ${rule.name}\n`)
    if (!hasTable(db, 'main', rule.name)) continue
    const cols = columns(db, 'main', rule.name)
    const row = cols.map((c) => `quote(${q(c)})`).join(" || char(31) || ")
    h.update(`${cols.join(',')}\n`)
    for (const r of db.prepare(`SELECT ${row} FROM main.${q(rule.name)} ORDER BY ${rule.key.map(q).join(', ')}`).raw().iterate() as IterableIterator<unknown[]>) {
      h.update(String(r[0]))
      h.update('\n')
    }
  }
  return h.digest('hex')
}

/** Rows per merged table of a target. */
export function tableCounts(db: Db, tables: TableRule[]): Record<string, number> {
  return Object.fromEntries(tables.map((t) => [t.name, hasTable(db, 'main', t.name) ? count(db, `SELECT count(*) FROM main.${q(t.name)}`) : 0]))
}
