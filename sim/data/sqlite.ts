import { rename, rm, stat } from 'node:fs/promises'
import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { Prng } from '../harness/prng.js'

/**
 * The schema self-play workers write (tables games and moves), as the sim's
 * data, the merge bench and the merge tests create it. SQLite stores each
 * statement without IF NOT EXISTS, so the files are the same as with plain CREATE.
 */
export const SELFPLAY_SCHEMA = `
      CREATE TABLE IF NOT EXISTS games(game_id TEXT PRIMARY KEY, board_type TEXT NOT NULL, num_players INTEGER NOT NULL,
                         winner INTEGER, total_moves INTEGER, created_at TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS moves(game_id TEXT NOT NULL REFERENCES games(game_id), move_number INTEGER NOT NULL,
                         player INTEGER NOT NULL, move TEXT NOT NULL, PRIMARY KEY(game_id, move_number));
      CREATE INDEX IF NOT EXISTS moves_by_player ON moves(player);`

const MOVES_PER_GAME = [20, 120] as const

/**
 * Writes a self-play games database of about `size` bytes (the schema the
 * self-play workers write: games and moves), into PATH.tmp then renamed, so
 * the node only sees the finished file. Rollback journal, not WAL: one file.
 * Content depends only on (seed, label, size). Returns the game count.
 */
export async function writeGamesDb(path: string, size: number, seed: number, label: string): Promise<number> {
  await mkdir(dirname(path), { recursive: true })
  const tmp = `${path}.tmp`
  await rm(tmp, { force: true })
  await rm(`${tmp}-journal`, { force: true })
  const rand = new Prng(seed, `sqlite:${label}`)
  const db = new Database(tmp)
  let games = 0
  try {
    db.pragma('journal_mode = DELETE')
    db.pragma('page_size = 4096')
    db.exec(SELFPLAY_SCHEMA)
    const insGame = db.prepare('INSERT INTO games VALUES (?, ?, ?, ?, ?, ?)')
    const insMove = db.prepare('INSERT INTO moves VALUES (?, ?, ?, ?)')
    const boards = ['hex8', 'square8', 'square19'] as const
    const batch = db.transaction((count: number) => {
      for (let g = 0; g < count; g++) {
        const id = `${label}-${games.toString().padStart(6, '0')}`
        const players = rand.pick([2, 2, 2, 4])
        const moves = rand.int(MOVES_PER_GAME[0], MOVES_PER_GAME[1])
        // a fixed epoch plus the game number: no wall clock, so the bytes repeat with the seed
        const created = new Date(Date.UTC(2025, 0, 1) + games * 37_000).toISOString()
        insGame.run(id, rand.pick(boards), players, rand.int(0, players - 1), moves, created)
        for (let m = 0; m < moves; m++) insMove.run(id, m, m % players, `${String.fromCharCode(97 + rand.int(0, 7))}${rand.int(1, 8)}`)
        games++
      }
    })
    // grow in batches until the file is large enough, halving the step near the target
    const empty = (db.pragma('page_count', { simple: true }) as number) * 4096
    for (;;) {
      const bytes = (db.pragma('page_count', { simple: true }) as number) * 4096
      if (bytes >= size) break
      const perGame = games > 0 ? Math.max(1, (bytes - empty) / games) : 8000
      batch(Math.max(1, Math.min(500, Math.floor((size - bytes) / perGame / 2))))
    }
  } finally {
    db.close()
  }
  await rename(tmp, path)
  return games
}

export async function fileSize(path: string): Promise<number> {
  return (await stat(path)).size
}
