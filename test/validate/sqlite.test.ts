import { copyFile, mkdir, readdir, readFile, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { validateFile } from '../../src/validate/index.js'
import { FIXTURES, tempDir } from './helpers.js'

let tmp: { dir: string; cleanup: () => Promise<void> }
beforeAll(async () => {
  tmp = await tempDir()
})
afterAll(async () => {
  await tmp.cleanup()
})

let n = 0
async function freshDir(): Promise<string> {
  const dir = join(tmp.dir, String(n++))
  await mkdir(dir)
  return dir
}

function makeDb(path: string, rows = 100): void {
  const db = new Database(path)
  db.exec('CREATE TABLE games (id INTEGER PRIMARY KEY, winner INTEGER, moves BLOB); CREATE INDEX games_by_winner ON games (winner)')
  const ins = db.prepare('INSERT INTO games (winner, moves) VALUES (?, ?)')
  db.transaction(() => {
    for (let i = 0; i < rows; i++) ins.run(i % 3, Buffer.alloc(300, i))
  })()
  db.close()
}

describe('sqlite validation', () => {
  it('a WAL-mode file without its -wal is read, and the -wal/-shm SQLite creates are removed after', async () => {
    const dir = await freshDir()
    const path = join(dir, 'games.db')
    await copyFile(join(FIXTURES, 'sqlite/live_wal/games.db'), path)
    const head = await readFile(path)
    expect([head[18], head[19]]).toEqual([2, 2])
    for (const depth of ['deep', 'quick'] as const) {
      const v = await validateFile(path, 'sqlite', { depth })
      expect(v).toMatchObject({ ok: true, facts: { kind: 'sqlite', tables: ['games', 'moves'] } })
      expect(await readdir(dir)).toEqual(['games.db'])
    }
  })

  it('a copied WAL pair is read with its -wal (kept), and the -shm created for it is removed', async () => {
    const dir = await freshDir()
    for (const f of ['games.db', 'games.db-wal']) await copyFile(join(FIXTURES, 'sqlite/live_wal', f), join(dir, f))
    const v = await validateFile(join(dir, 'games.db'), 'sqlite')
    // 51 pages in games.db, the rest only in games.db-wal
    expect(v).toMatchObject({ ok: true, facts: { pageCount: 56 } })
    expect((await readdir(dir)).sort()).toEqual(['games.db', 'games.db-wal'])
  })

  it('integrity_check (deep) finds index damage that quick_check does not', async () => {
    const path = join(await freshDir(), 'idx.db')
    makeDb(path)
    const db = new Database(path)
    db.unsafeMode(true)
    db.pragma('writable_schema = ON')
    // the index now claims to cover another column than the one it was built from
    db.prepare("UPDATE sqlite_schema SET sql = 'CREATE INDEX games_by_winner ON games (id)' WHERE name = 'games_by_winner'").run()
    db.close()
    expect(await validateFile(path, 'sqlite', { depth: 'quick' })).toMatchObject({ ok: true })
    const v = await validateFile(path, 'sqlite', { depth: 'deep' })
    expect(v.ok ? '' : v.reason).toMatch(/^sqlite: integrity_check: row \d+ missing from index games_by_winner; /)
  })

  it('a file cut at a page boundary: the header says more pages than the file holds', async () => {
    const path = join(await freshDir(), 'cut.db')
    makeDb(path, 200)
    await truncate(path, 4096 * 5)
    const v = await validateFile(path, 'sqlite')
    expect(v.ok ? '' : v.reason).toMatch(/^sqlite: header says \d+ pages but the file holds 5 \(truncated\)$/)
  })

  it('header checks: short file, bad page size, bad format bytes', async () => {
    const dir = await freshDir()
    const short = join(dir, 'short.db')
    await writeFile(short, 'SQLite format 3\0 and nothing else')
    let v = await validateFile(short, 'sqlite')
    expect(v.ok ? '' : v.reason).toBe('sqlite: file is not a database (no SQLite header)')

    const good = join(dir, 'good.db')
    makeDb(good, 10)
    const bytes = await readFile(good)
    const badPage = Buffer.from(bytes)
    badPage.writeUInt16BE(1000, 16)
    await writeFile(join(dir, 'page.db'), badPage)
    v = await validateFile(join(dir, 'page.db'), 'sqlite')
    expect(v.ok ? '' : v.reason).toBe('sqlite: header page size 1000 is not a power of two between 512 and 65536')

    const badFormat = Buffer.from(bytes)
    badFormat[18] = 3
    await writeFile(join(dir, 'format.db'), badFormat)
    v = await validateFile(join(dir, 'format.db'), 'sqlite')
    expect(v.ok ? '' : v.reason).toBe('sqlite: header file format bytes are 3/1, not 1 (rollback journal) or 2 (WAL)')

    // damage SQLite itself notices when opening: the schema page's b-tree type byte
    const badSchema = Buffer.from(bytes)
    badSchema[100] = 0x42
    await writeFile(join(dir, 'schema.db'), badSchema)
    v = await validateFile(join(dir, 'schema.db'), 'sqlite')
    expect(v.ok ? '' : v.reason).toMatch(/^sqlite: .*(malformed|corrupt).*\(SQLITE_(CORRUPT|NOTADB)/i)
  })

  it('facts: page size, page count and tables of a fresh database', async () => {
    const path = join(await freshDir(), 'fresh.db')
    makeDb(path, 50)
    const db = new Database(path, { readonly: true })
    const pageCount = db.pragma('page_count', { simple: true })
    db.close()
    expect(await validateFile(path, 'sqlite')).toEqual({ ok: true, kind: 'sqlite', facts: { kind: 'sqlite', pageSize: 4096, pageCount, tables: ['games'] } })
  })
})
