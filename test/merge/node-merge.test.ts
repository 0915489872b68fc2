import { copyFile, mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { api, startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { eventsOf, FIXTURES } from '../replication/support.js'
import { meshsync } from '../transfer/support.js'
import { gameIds, integrity, SELFPLAY_TABLES, writeGames } from './support.js'

/**
 * One real node merging the self-play databases of its own data dir: the
 * catalog, the scanner's snapshots of a live WAL database, validation and
 * quarantine are the node's own.
 */

const MERGES = {
  canon: { sources: ['selfplay/{board}/*.db'], target: 'games/canonical_{board}.db', tables: SELFPLAY_TABLES, intervalSeconds: 0.5 },
}

let nodes: MeshsyncNode[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})

describe('merges on one node', () => {
  it('merges a live WAL source incrementally, version by version, and treats the target as a live database', async () => {
    const node = await startNode({ name: 'builder', settings: { merges: MERGES } })
    nodes.push(node)
    const dir = node.layout.dataDir
    const expected = new Set(await writeGames(join(dir, 'selfplay/hex8/a.db'), 'a', 0, 50))
    // a writer that keeps its database open in WAL mode and adds games in batches
    await mkdir(join(dir, 'selfplay/hex8'), { recursive: true })
    const live = new Database(join(dir, 'selfplay/hex8/live.db'))
    live.pragma('journal_mode = WAL')
    live.pragma('wal_autocheckpoint = 0')
    try {
      const target = join(dir, 'games/canonical_hex8.db')
      for (let batch = 0; batch < 3; batch++) {
        for (const id of await writeGames('', 'live', batch * 40, 40, { db: live })) expected.add(id)
        await waitFor(`batch ${batch} merged`, () => gameIds(target).length === expected.size, 30_000, 200)
      }
      expect(new Set(gameIds(target))).toEqual(expected)
      expect(integrity(target)).toBe('ok')
      // the target's state is recorded at the end of the pass that merged the last version
      await waitFor('target state recorded', () => node.merges.status().targets.find((x) => x.target === 'games/canonical_hex8.db')?.rowsTotal === expected.size * 4, 20_000, 100)

      const m = await api<{ targets: { target: string; rowsTotal: number; countOk: boolean; sources: number }[]; sources: { sourcePath: string; rowsAdded: number; tables: Record<string, { added: number }> }[] }>(node, '/merges')
      const t = m.targets.find((x) => x.target === 'games/canonical_hex8.db')!
      expect(t.countOk).toBe(true)
      expect(t.rowsTotal).toBe(expected.size * 4) // games + 3 moves each
      // each version of the live source added only what was new
      const liveVersions = m.sources.filter((s) => s.sourcePath === 'selfplay/hex8/live.db')
      expect(liveVersions.length).toBeGreaterThanOrEqual(3)
      expect(liveVersions.reduce((n, s) => n + s.tables.games!.added, 0)).toBe(120)
      for (const s of liveVersions) expect(s.tables.games!.added).toBeLessThanOrEqual(40)
      const merged = eventsOf(node, 'database_merged').filter((e) => e.path === 'games/canonical_hex8.db')
      expect(merged.length).toBeGreaterThanOrEqual(3)
      expect(merged.every((e) => e.data?.countOk === true)).toBe(true)
      expect(merged.at(-1)!.data).toMatchObject({ rowsTotal: expected.size * 4 })

      // the target is cataloged as a live database: served from a consistent snapshot, never the file itself
      await node.rescan()
      await waitFor('target cataloged', () => node.manifest.get('games/canonical_hex8.db')?.snapshot != null, 20_000, 200)
      const status = await api<{ merges: { targets: unknown[] } }>(node, '/status')
      expect(status.merges.targets.length).toBe(1)

      // `meshsync merges` (the compiled CLI: npm run build first) prints the same provenance
      const cli = await meshsync(['merges', '--api', node.apiAddress!, '--sources'])
      expect(cli.code).toBe(0)
      expect(cli.stdout).toMatch(new RegExp(`canon\\s+build\\s+games/canonical_hex8\\.db\\s+\\d+\\s+${expected.size * 4}\\s+ok`))
      expect(cli.stdout).toContain('selfplay/hex8/live.db')
      const json = JSON.parse((await meshsync(['merges', '--api', node.apiAddress!, '--json', '--target', 'games/canonical_hex8.db'])).stdout) as { sources: { target: string }[] }
      expect(json.sources.length).toBeGreaterThanOrEqual(4)
      expect(json.sources.every((x) => x.target === 'games/canonical_hex8.db')).toBe(true)
    } finally {
      live.close()
    }
  })

  it('quarantines a corrupt source and merges the others', async () => {
    // catalog validation off, so the corrupt file reaches the merge service (which validates on its own)
    const node = await startNode({ name: 'builder', settings: { merges: MERGES, 'catalog.validateLocal': false } })
    nodes.push(node)
    const dir = node.layout.dataDir
    const good = await writeGames(join(dir, 'selfplay/hex8/good.db'), 'good', 0, 30)
    await mkdir(join(dir, 'selfplay/hex8'), { recursive: true })
    await copyFile(join(FIXTURES, 'sqlite/corrupt_page.db'), join(dir, 'selfplay/hex8/bad.db'))
    await node.rescan()
    await waitFor('bad source quarantined', () => node.quarantine.list().some((q) => q.path === 'selfplay/hex8/bad.db'), 30_000, 200)
    const target = join(dir, 'games/canonical_hex8.db')
    await waitFor('good source merged', () => gameIds(target).length === good.length, 30_000, 200)
    expect(gameIds(target)).toEqual(good)
    const failed = eventsOf(node, 'merge_failed')
    expect(failed.some((e) => e.data?.source === 'selfplay/hex8/bad.db' && e.data?.quarantined === true)).toBe(true)
    expect(node.manifest.get('selfplay/hex8/bad.db')).toBeUndefined()
    const q = node.quarantine.list().find((x) => x.path === 'selfplay/hex8/bad.db')!
    expect(q.reason).toMatch(/not a valid database|failed validation/)
    const m = await api<{ sources: { sourcePath: string; state: string }[] }>(node, '/merges')
    expect(m.sources.find((s) => s.sourcePath === 'selfplay/hex8/bad.db')?.state).toBe('invalid')

    // an operator removes the target: it is built again from its sources (the target's own log decides what is in it)
    await waitFor('target state recorded', () => node.merges.status().targets.some((t) => t.target === 'games/canonical_hex8.db'), 20_000, 100)
    for (const suffix of ['', '-wal', '-shm']) await rm(`${target}${suffix}`, { force: true })
    node.merges.poke()
    await waitFor('target rebuilt', () => {
      try {
        return gameIds(target).length === good.length
      } catch {
        return false
      }
    }, 30_000, 200)
    expect(gameIds(target)).toEqual(good)
  })
})
