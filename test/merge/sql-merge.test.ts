import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { compileRules } from '../../src/merge/rules.js'
import { contentHash, MergeSchemaError, mergedLog, mergeSnapshot, openTarget, tableCounts } from '../../src/merge/sql-merge.js'
import { configSchema } from '../../src/config/schema.js'
import { mergeSource } from '../../src/merge/merge-source.js'
import { validateFile } from '../../src/validate/index.js'
import { gameIds, integrity, SELFPLAY_TABLES, tempDir, writeGames } from './support.js'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

function rule(tables: Record<string, unknown> = SELFPLAY_TABLES, extra: Record<string, unknown> = {}) {
  const cfg = configSchema.parse({ merges: { canon: { sources: ['sp/*.db'], target: 'canon.db', tables, ...extra } } })
  return compileRules(cfg.merges)[0]!
}

describe('mergeSnapshot (real SQLite files)', () => {
  it('merges overlapping sources into exactly their union, counts what each adds, and logs it in the target', async () => {
    const dir = await tempDir('sql')
    dirs.push(dir)
    const a = join(dir, 'a.db')
    const b = join(dir, 'b.db')
    await writeGames(a, 'g', 0, 100)
    await writeGames(b, 'g', 60, 100) // 40 games in common with a
    const r = rule()
    const target = openTarget(join(dir, 'canon.db'), { create: true })
    try {
      const ra = mergeSnapshot(target, a, r.tables, { sourcePath: 'sp/a.db', sha256: 'a'.repeat(64), origin: 'p', version: 1, mergedMs: 1 })
      expect(ra.tables.map((t) => [t.table, t.added])).toEqual([
        ['games', 100],
        ['moves', 300],
      ])
      const rb = mergeSnapshot(target, b, r.tables, { sourcePath: 'sp/b.db', sha256: 'b'.repeat(64), origin: 'p', version: 1, mergedMs: 2 })
      expect(rb.tables.map((t) => t.added)).toEqual([60, 180])
      expect(rb.conflicts).toBe(0)
      // merging the same source again adds nothing
      const again = mergeSnapshot(target, b, r.tables)
      expect(again.rowsAdded).toBe(0)
      expect(tableCounts(target, r.tables)).toEqual({ games: 160, moves: 480 })
      expect([...mergedLog(target).keys()].sort()).toEqual(['a'.repeat(64), 'b'.repeat(64)])
      expect(target.pragma('journal_mode', { simple: true })).toBe('wal')
    } finally {
      target.close()
    }
    expect(gameIds(join(dir, 'canon.db'))).toHaveLength(160)
    expect(integrity(join(dir, 'canon.db'))).toBe('ok')
  })

  it('keep-first keeps the target row, reject reports the keys, newest:<column> takes the newer row', async () => {
    const dir = await tempDir('conflict')
    dirs.push(dir)
    const mk = (name: string, rating: number, at: number) => {
      const db = new Database(join(dir, name))
      db.exec('CREATE TABLE ratings(model TEXT PRIMARY KEY, elo REAL NOT NULL, updated_at INTEGER NOT NULL)')
      db.prepare('INSERT INTO ratings VALUES (?, ?, ?)').run('m1', rating, at)
      db.close()
      return join(dir, name)
    }
    const first = mk('first.db', 1500, 10)
    const newer = mk('newer.db', 1600, 20)
    for (const [conflict, expected, keys] of [
      ['keep-first', 1500, 0],
      ['reject', 1500, 1],
      ['newest:updated_at', 1600, 0],
    ] as const) {
      const r = rule({ ratings: { key: ['model'] } }, { conflict })
      const target = openTarget(join(dir, `t-${conflict.replace(':', '_')}.db`), { create: true })
      try {
        mergeSnapshot(target, first, r.tables)
        const res = mergeSnapshot(target, newer, r.tables)
        expect(res.conflicts).toBe(1)
        expect(res.conflictKeys).toHaveLength(keys)
        expect((target.prepare('SELECT elo FROM ratings').get() as { elo: number }).elo).toBe(expected)
        // the older version arriving after the newer changes nothing under newest
        if (conflict.startsWith('newest')) {
          mergeSnapshot(target, first, r.tables)
          expect((target.prepare('SELECT elo FROM ratings').get() as { elo: number }).elo).toBe(1600)
        }
      } finally {
        target.close()
      }
    }
  })

  it('a source without a unique key, with a key repeated, adds each key once', async () => {
    const dir = await tempDir('dupkeys')
    dirs.push(dir)
    const src = new Database(join(dir, 'loose.db'))
    src.exec('CREATE TABLE ratings(model TEXT, elo REAL)')
    src.prepare('INSERT INTO ratings VALUES (?, ?), (?, ?), (?, ?)').run('a', 1, 'a', 1, 'b', 2)
    src.close()
    const r = rule({ ratings: { key: ['model'] } })
    const target = openTarget(join(dir, 't.db'), { create: true })
    try {
      const res = mergeSnapshot(target, join(dir, 'loose.db'), r.tables)
      expect(res.rowsAdded).toBe(2)
      expect(tableCounts(target, r.tables)).toEqual({ ratings: 2 })
      expect(mergeSnapshot(target, join(dir, 'loose.db'), r.tables).rowsAdded).toBe(0)
    } finally {
      target.close()
    }
  })

  it('a source SQLite refuses (a NOT NULL column of the target) is recorded failed, and the next source still merges', async () => {
    const dir = await tempDir('refused')
    dirs.push(dir)
    await writeGames(join(dir, 'good.db'), 'g', 0, 5)
    const bad = new Database(join(dir, 'nulls.db'))
    bad.exec('CREATE TABLE games(game_id TEXT PRIMARY KEY, board_type TEXT, num_players INTEGER, winner INTEGER, total_moves INTEGER, created_at TEXT)')
    bad.prepare('INSERT INTO games VALUES (?, NULL, 2, 0, 1, NULL)').run('x-1')
    bad.close()
    const r = rule()
    const target = openTarget(join(dir, 'canon.db'), { create: true })
    const io = {
      dataDir: dir,
      snapshotDir: dir,
      workDir: dir,
      validate: (p: string, signal: AbortSignal) => validateFile(p, 'sqlite', { depth: 'deep', signal }),
      quarantine: async () => {},
      now: () => 0,
    }
    const signal = new AbortController().signal
    const v = (path: string, sha: string) => ({ path, sha256: sha.repeat(64), kind: 'sqlite', origin: 'o', version: 1 })
    try {
      expect((await mergeSource(io, r, 'canon.db', target, v('good.db', 'a'), { logInTarget: true, signal })).state).toBe('merged')
      const refused = await mergeSource(io, r, 'canon.db', target, v('nulls.db', 'b'), { logInTarget: true, signal })
      expect(refused.state).toBe('failed')
      expect(refused.state === 'failed' && refused.reason).toMatch(/nulls\.db.*NOT NULL/)
      expect(tableCounts(target, r.tables).games).toBe(5)
      await writeGames(join(dir, 'more.db'), 'h', 0, 3)
      expect((await mergeSource(io, r, 'canon.db', target, v('more.db', 'c'), { logInTarget: true, signal })).state).toBe('merged')
      expect(tableCounts(target, r.tables).games).toBe(8)
    } finally {
      target.close()
    }
  })

  it('refuses a source without a key column and leaves the target as it was', async () => {
    const dir = await tempDir('schema')
    dirs.push(dir)
    const good = join(dir, 'good.db')
    await writeGames(good, 'g', 0, 5)
    const bad = new Database(join(dir, 'bad.db'))
    bad.exec('CREATE TABLE games(id TEXT PRIMARY KEY, board_type TEXT)')
    bad.close()
    const r = rule()
    const target = openTarget(join(dir, 'canon.db'), { create: true })
    try {
      mergeSnapshot(target, good, r.tables)
      const before = contentHash(target, r.tables)
      expect(() => mergeSnapshot(target, join(dir, 'bad.db'), r.tables)).toThrow(MergeSchemaError)
      expect(contentHash(target, r.tables)).toBe(before)
    } finally {
      target.close()
    }
  })

  it('the content hash depends on the rows only, not on the order they were inserted in', async () => {
    const dir = await tempDir('hash')
    dirs.push(dir)
    await writeGames(join(dir, 'x.db'), 'g', 0, 10)
    await writeGames(join(dir, 'y.db'), 'g', 10, 10)
    const r = rule()
    const hashes: string[] = []
    for (const order of [
      ['x.db', 'y.db'],
      ['y.db', 'x.db'],
    ]) {
      const t = openTarget(join(dir, `t-${order[0]}`), { create: true })
      for (const s of order) mergeSnapshot(t, join(dir, s), r.tables)
      hashes.push(contentHash(t, r.tables))
      t.close()
    }
    expect(hashes[0]).toBe(hashes[1])
  })
})
