import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { copyFixtures, NO_REPLICATION, sha256Of, sha256OfFile } from './support.js'

const REL = 'sqlite/live_wal/games.db'

function count(db: Database.Database): number {
  return (db.prepare('SELECT count(*) AS c FROM games').get() as { c: number }).c
}

/**
 * A self-play database as a running writer leaves it: WAL mode, 250 games of
 * which 200 live only in games.db-wal, the writer's connection still open (no
 * checkpoint), and a write transaction of its in progress. Another node must
 * get all 250 committed games in one self-contained, intact file.
 */
describe('a live SQLite database in WAL mode', () => {
  let src: MeshsyncNode
  let dst: MeshsyncNode
  let writer: Database.Database
  let scratch: string
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'meshsync-livewal-'))
    const srcDir = join(scratch, 'src')
    await copyFixtures(srcDir, [REL])
    writer = new Database(join(srcDir, REL))
    writer.pragma('wal_autocheckpoint = 0')
    expect(writer.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(count(writer)).toBe(250)
    // a write in progress, not committed: it must not be in what is sent
    writer.exec('BEGIN IMMEDIATE')
    const cols = (writer.prepare('PRAGMA table_info(games)').all() as { name: string; notnull: number; dflt_value: unknown; pk: number }[]).filter((c) => c.pk === 0)
    writer.prepare(`INSERT INTO games (${cols.map((c) => c.name).join(', ')}) SELECT ${cols.map((c) => c.name).join(', ')} FROM games LIMIT 1`).run()
    src = await startNode({ name: 'wal-src', dataDir: srcDir, settings: NO_REPLICATION })
    dst = await startNode({ name: 'wal-dst', bootstrap: [src.addresses[0]!], settings: NO_REPLICATION })
    await waitFor('the source up in the receiver view', () => dst.view.get(src.peerId)?.state === 'up')
  })
  afterAll(async () => {
    if (writer?.inTransaction) writer.exec('ROLLBACK')
    writer?.close()
    await stopAll([src, dst])
    await rm(scratch, { recursive: true, force: true })
  })

  it('the main file alone would lose games: most rows are only in the -wal', async () => {
    const alone = join(scratch, 'alone')
    await mkdir(alone)
    await copyFile(join(src.layout.dataDir, REL), join(alone, 'games.db'))
    const db = new Database(join(alone, 'games.db'))
    try {
      expect(count(db)).toBe(50)
    } finally {
      db.close()
    }
  })

  it('lands all 250 committed games in one file that passes integrity_check', async () => {
    const mainBefore = await sha256OfFile(join(src.layout.dataDir, REL))
    const walBefore = await sha256OfFile(join(src.layout.dataDir, `${REL}-wal`))
    const announced = await waitFor('the source to announce the database', () => src.manifest.get(REL))
    expect(announced.snapshot).toBeDefined()
    await waitFor('known to the receiver', () => dst.view.holders(announced.sha256).includes(src.peerId))

    const landed = await dst.fetch(announced.sha256, { signal: AbortSignal.timeout(30_000) })
    const path = join(dst.layout.dataDir, landed.path)
    expect(landed.path).toBe(REL)
    expect(sha256Of(await readFile(path))).toBe(announced.sha256)
    // self-contained: a rollback-journal database, nothing beside it
    expect(existsSync(`${path}-wal`)).toBe(false)
    const head = await readFile(path)
    expect([head[18], head[19]]).toEqual([1, 1])
    const db = new Database(path, { readonly: true, fileMustExist: true })
    try {
      expect(count(db)).toBe(250)
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    } finally {
      db.close()
    }
    // the writer's files were not touched: no checkpoint, its open transaction still there
    expect(await sha256OfFile(join(src.layout.dataDir, REL))).toBe(mainBefore)
    expect(await sha256OfFile(join(src.layout.dataDir, `${REL}-wal`))).toBe(walBefore)
    expect(writer.inTransaction).toBe(true)
    expect(count(writer)).toBe(251)
  })
})
