import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { ProcessNode } from '../../sim/harness/process-node.js'
import { FAST, waitFor } from '../helpers/cluster.js'
import { gameIds, integrity, SELFPLAY_TABLES, writeGames } from './support.js'

/**
 * A builder is its own OS process (the compiled CLI: `npm run build` first),
 * killed with SIGKILL while it merges many sources, twice, then restarted:
 * the target is valid after each kill and the last run finishes the job
 * with every game exactly once.
 */

const SETTINGS: Record<string, unknown> = { ...FAST, merges: { canon: { sources: ['selfplay/*.db'], target: 'games/canonical.db', tables: SELFPLAY_TABLES, intervalSeconds: 0.2 } } }
delete SETTINGS['mesh.localCluster'] // --local-cluster is a flag of ProcessNode

const SOURCES = 40
const GAMES = 1500

let proc: ProcessNode | undefined
let dir: string | undefined
afterEach(async () => {
  proc?.kill()
  await proc?.exited
  proc = undefined
  if (dir != null) await rm(dir, { recursive: true, force: true })
})

/** Sources merged per the target's own log (0 when it does not exist yet); the reader never blocks the writer (WAL). */
function merged(target: string): number {
  try {
    const db = new Database(target, { readonly: true, fileMustExist: true })
    try {
      return (db.prepare('SELECT count(*) AS n FROM meshsync_merge_log').get() as { n: number }).n
    } finally {
      db.close()
    }
  } catch {
    return 0
  }
}

describe('kill -9 of a builder mid-merge', () => {
  it('leaves a valid target each time and the restarted builder finishes with nothing lost or doubled', async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshsync-merge-kill-'))
    const expected = new Set<string>()
    for (let s = 0; s < SOURCES; s++) {
      // neighbouring sources share a third of their games
      for (const id of await writeGames(join(dir, `selfplay/src${String(s).padStart(2, '0')}.db`), 'g', s * GAMES * (2 / 3), GAMES)) expected.add(id)
    }
    const target = join(dir, 'games/canonical.db')
    const kills: number[] = []
    for (let round = 0; round < 2; round++) {
      proc = await ProcessNode.start({ name: 'builder', dataDir: dir, settings: SETTINGS })
      const floor = merged(target)
      // kill while the merge is under way: some sources in, not all
      await waitFor(`round ${round}: merging under way`, () => merged(target) > floor, 120_000, 20)
      proc.kill()
      await proc.exited
      proc = undefined
      kills.push(merged(target))
      expect(integrity(target)).toBe('ok')
      gameIds(target) // throws on a game present twice
    }
    expect(kills.at(-1)).toBeLessThan(SOURCES)

    proc = await ProcessNode.start({ name: 'builder', dataDir: dir, settings: SETTINGS })
    await waitFor('all sources merged', () => merged(target) === SOURCES, 180_000, 200)
    const m = await waitFor('target state recorded', async () => {
      const r = await proc!.get<{ targets: { target: string; rowsTotal: number; countOk: boolean; sources: number }[]; sources: { sha256: string; state: string }[] }>('/merges')
      const t = r.targets.find((x) => x.target === 'games/canonical.db')
      return t?.sources === SOURCES ? { ...r, t } : undefined
    }, 60_000, 200)
    expect(m.t.countOk).toBe(true)
    expect(m.t.rowsTotal).toBe(expected.size * 4)
    expect(m.sources.filter((s) => s.state === 'merged')).toHaveLength(SOURCES)
    proc.kill()
    await proc.exited
    proc = undefined
    expect(integrity(target)).toBe('ok')
    expect(new Set(gameIds(target))).toEqual(expected)
    const db = new Database(target, { readonly: true })
    try {
      const log = db.prepare('SELECT tables FROM meshsync_merge_log').all() as { tables: string }[]
      // rows in the target = the rows each merged source added (each source once)
      const added = log.reduce((n, r) => n + (JSON.parse(r.tables) as { games: number }).games, 0)
      expect(added).toBe(expected.size)
      expect((db.prepare('SELECT count(*) AS n FROM moves').get() as { n: number }).n).toBe(expected.size * 3)
    } finally {
      db.close()
    }
  }, 400_000)
})
