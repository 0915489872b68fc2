import { mkdir, mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import Database from 'better-sqlite3'
import type { Database as Db } from 'better-sqlite3'
import { SELFPLAY_SCHEMA } from '../../sim/data/sqlite.js'

/** The schema of the fixtures' self-play databases (tables games and moves). */
export { SELFPLAY_SCHEMA }

/** The merge rule tables for self-play databases. */
export const SELFPLAY_TABLES = { games: { key: ['game_id'] }, moves: { key: ['game_id', 'move_number'] } }

export async function tempDir(name: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `meshsync-merge-${name}-`))
}

/**
 * Adds games `from`..`from+count-1` named `${prefix}-NNNNNN` (3 moves each) to
 * the database at `path`, creating it (rollback journal, or WAL when asked).
 * Returns the game ids written.
 */
export async function writeGames(path: string, prefix: string, from: number, count: number, opts: { wal?: boolean; board?: string; db?: Db } = {}): Promise<string[]> {
  await mkdir(dirname(path), { recursive: true })
  const db = opts.db ?? new Database(path)
  const ids: string[] = []
  try {
    if (opts.db == null) db.pragma(`journal_mode = ${opts.wal === true ? 'WAL' : 'DELETE'}`)
    db.exec(SELFPLAY_SCHEMA)
    const g = db.prepare('INSERT INTO games VALUES (?, ?, 2, ?, 3, ?)')
    const m = db.prepare('INSERT INTO moves VALUES (?, ?, ?, ?)')
    db.transaction(() => {
      for (let i = from; i < from + count; i++) {
        const id = `${prefix}-${String(i).padStart(6, '0')}`
        g.run(id, opts.board ?? 'hex8', i % 2, new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString())
        for (let k = 0; k < 3; k++) m.run(id, k, k % 2, `place ${(i * 7 + k) % 64}`)
        ids.push(id)
      }
    })()
  } finally {
    if (opts.db == null) db.close()
  }
  return ids
}

/** Game ids of a database, with their multiplicity check: throws when any id appears twice. */
export function gameIds(path: string): string[] {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    const ids = (db.prepare('SELECT game_id FROM games ORDER BY game_id').raw().all() as string[][]).map((r) => r[0]!)
    const dup = db.prepare('SELECT game_id, count(*) AS n FROM games GROUP BY game_id HAVING n > 1 LIMIT 1').get()
    if (dup != null) throw new Error(`duplicate game in ${path}: ${JSON.stringify(dup)}`)
    return ids
  } finally {
    db.close()
  }
}

export function integrity(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    return String(db.pragma('integrity_check', { simple: true }))
  } finally {
    db.close()
  }
}

export function countRows(path: string, table: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n
  } finally {
    db.close()
  }
}
