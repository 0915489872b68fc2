import { existsSync, statSync } from 'node:fs'
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isWalMode, snapshotSqlite } from '../../src/catalog/sqlite-snapshot.js'
import { validateFile } from '../../src/validate/index.js'
import { FIXTURES, tempDir } from './helpers.js'

let tmp: { dir: string; cleanup: () => Promise<void> }
beforeAll(async () => {
  tmp = await tempDir('meshsync-snapshot-')
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

function count(path: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    return (db.prepare('SELECT count(*) AS c FROM games').get() as { c: number }).c
  } finally {
    db.close()
  }
}

/** A WAL database of `rows` games with 2 KB blobs (about rows/2 pages of 4 KiB). */
function makeWalDb(path: string, rows: number): Database.Database {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.exec('CREATE TABLE games (id INTEGER PRIMARY KEY, moves BLOB)')
  const ins = db.prepare('INSERT INTO games (moves) VALUES (?)')
  db.transaction(() => {
    for (let i = 0; i < rows; i++) ins.run(Buffer.alloc(2000, i))
  })()
  return db
}

describe('isWalMode', () => {
  it('reads header bytes 18 and 19', async () => {
    const wal = await readFile(join(FIXTURES, 'sqlite/live_wal/games.db'))
    const rollback = await readFile(join(FIXTURES, 'sqlite/selfplay_hex8_2p.db'))
    expect(isWalMode(wal.subarray(0, 64))).toBe(true)
    expect(isWalMode(rollback.subarray(0, 100))).toBe(false)
    expect(isWalMode(wal.subarray(0, 19))).toBe(false)
  })
})

describe('snapshotSqlite', () => {
  it('live_wal: rows that live only in the -wal are in the snapshot, which needs no -wal', async () => {
    const src = await freshDir()
    for (const f of ['games.db', 'games.db-wal']) await copyFile(join(FIXTURES, 'sqlite/live_wal', f), join(src, f))
    const stage = await freshDir()
    const res = await snapshotSqlite(join(src, 'games.db'), join(stage, 'games.db'))
    expect(res.pageCount).toBeGreaterThan(0)
    expect(await readdir(stage)).toEqual(['games.db'])

    // the snapshot alone, in a folder with no -wal or -shm
    const shipped = await freshDir()
    await copyFile(join(stage, 'games.db'), join(shipped, 'games.db'))
    const head = await readFile(join(shipped, 'games.db'))
    expect([head[18], head[19]]).toEqual([1, 1])
    expect(count(join(shipped, 'games.db'))).toBe(250)
    expect(await validateFile(join(shipped, 'games.db'), 'sqlite', { depth: 'deep' })).toMatchObject({
      ok: true,
      facts: { pageCount: res.pageCount, tables: ['games', 'moves'] },
    })
    // for contrast: the source's main file alone holds only the 50 checkpointed games
    const alone = await freshDir()
    await copyFile(join(FIXTURES, 'sqlite/live_wal/games.db'), join(alone, 'games.db'))
    expect(count(join(alone, 'games.db'))).toBe(50)
    // the source's content is untouched
    expect(count(join(src, 'games.db'))).toBe(250)
  })

  it('a rollback-journal database snapshots too', async () => {
    const src = await freshDir()
    await copyFile(join(FIXTURES, 'sqlite/selfplay_hex8_2p.db'), join(src, 'games.db'))
    const dest = join(await freshDir(), 'snap.db')
    expect(await snapshotSqlite(join(src, 'games.db'), dest)).toEqual({ pageCount: 374 })
    expect(count(dest)).toBe(400)
  })

  it('is consistent while another connection keeps inserting rows in WAL mode', async () => {
    const dir = await freshDir()
    const src = join(dir, 'live.db')
    const writer = makeWalDb(src, 20_000) // ~40 MB: about 10 backup steps
    const ins = writer.prepare('INSERT INTO games (moves) VALUES (?)')
    const before = count(src)
    let inserted = 0
    let stop = false
    const tick = () => {
      if (stop) return
      ins.run(Buffer.alloc(2000, 9))
      inserted++
      setImmediate(tick)
    }
    setImmediate(tick)
    const dest = join(await freshDir(), 'snap.db')
    let res: { pageCount: number }
    try {
      res = await snapshotSqlite(src, dest)
    } finally {
      stop = true
    }
    const after = count(src)
    writer.close()
    expect(inserted).toBeGreaterThan(5) // the writer really ran during the copy
    expect(after).toBe(before + inserted)
    const got = count(dest)
    expect(got).toBeGreaterThanOrEqual(before)
    expect(got).toBeLessThan(after) // a snapshot from the start, not the end
    expect(res.pageCount).toBeGreaterThan(9000)
    expect(await validateFile(dest, 'sqlite', { depth: 'deep' })).toMatchObject({ ok: true })
  })

  it('refuses an existing destination and leaves it alone', async () => {
    const src = await freshDir()
    await copyFile(join(FIXTURES, 'sqlite/selfplay_hex8_2p.db'), join(src, 'games.db'))
    const dest = join(await freshDir(), 'snap.db')
    await writeFile(dest, 'keep me')
    await expect(snapshotSqlite(join(src, 'games.db'), dest)).rejects.toMatchObject({ code: 'ERR_INTERNAL', message: expect.stringContaining('already exists') })
    expect(await readFile(dest, 'utf8')).toBe('keep me')
  })

  it('a missing source is an I/O error (ENOENT) and creates nothing', async () => {
    const stage = await freshDir()
    await expect(snapshotSqlite(join(stage, 'absent.db'), join(stage, 'snap.db'))).rejects.toMatchObject({ code: 'ENOENT' })
    expect(await readdir(stage)).toEqual([])
  })

  it('a source that is not a database: ValidationError, nothing left at dest', async () => {
    const src = join(await freshDir(), 'x.db')
    await copyFile(join(FIXTURES, 'sqlite/not_sqlite.db'), src)
    const stage = await freshDir()
    await expect(snapshotSqlite(src, join(stage, 'snap.db'))).rejects.toMatchObject({ code: 'ERR_VALIDATION' })
    expect(await readdir(stage)).toEqual([])
  })

  it('abort mid-copy rejects with AbortError and removes the partial snapshot', async () => {
    const src = join(await freshDir(), 'big.db')
    makeWalDb(src, 20_000).close()
    const stage = await freshDir()
    const ac = new AbortController()
    const dest = join(stage, 'snap.db')
    const p = snapshotSqlite(src, dest, { signal: ac.signal })
    // abort once the copy has visibly started writing the destination
    let sawWrites = false
    const poll = () => {
      if (existsSync(`${dest}-journal`) || (existsSync(dest) && statSync(dest).size > 0)) {
        sawWrites = true
        ac.abort()
      } else if (!ac.signal.aborted) setImmediate(poll)
    }
    setImmediate(poll)
    await expect(p).rejects.toMatchObject({ name: 'AbortError' })
    expect(sawWrites).toBe(true)
    expect(await readdir(stage)).toEqual([])
    await expect(snapshotSqlite(src, join(stage, 'snap.db'), { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' })
    expect(await readdir(stage)).toEqual([])
  })
})
