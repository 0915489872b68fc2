import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { eventsOf, REPLICATION_FAST } from '../replication/support.js'
import { gameIds, integrity, SELFPLAY_TABLES, writeGames } from './support.js'

/**
 * Seven real nodes over loopback: five self-play nodes each write their own
 * game databases (two board types, and a few games written on two nodes),
 * two storage nodes build the canonical database of each board by
 * themselves: they pull the sources they lack and merge them.
 */
const MERGES = {
  canonical: {
    sources: ['selfplay/{board}/*.db'],
    target: 'games/canonical_{board}.db',
    tables: SELFPLAY_TABLES,
    roles: ['storage'],
    intervalSeconds: 0.5,
  },
}

describe('canonical databases built by two storage nodes from five self-play nodes', () => {
  let nodes: MeshsyncNode[] = []
  const producers = ['sp0', 'sp1', 'sp2', 'sp3', 'sp4']
  const builders = ['st0', 'st1']
  const byName = (n: string): MeshsyncNode => nodes.find((x) => x.config.node.name === n)!

  beforeAll(async () => {
    const settings = (role: string) => ({ ...REPLICATION_FAST, 'node.role': role, merges: MERGES })
    const first = await startNode({ name: 'st0', settings: settings('storage') })
    const boot = [first.addresses[0]!]
    const rest = await Promise.all([...builders.slice(1).map((n) => startNode({ name: n, bootstrap: boot, settings: settings('storage') })), ...producers.map((n) => startNode({ name: n, bootstrap: boot, settings: settings('selfplay') }))])
    nodes = [first, ...rest]
    await waitFor('every node sees the other six up', () => nodes.every((n) => n.view.peers().filter((p) => p.state === 'up').length === 6), 60_000)
  }, 120_000)

  afterAll(async () => stopAll(nodes))

  it('both builders hold exactly the union of the games, each once, with the same content', async () => {
    const expected: Record<string, Set<string>> = { hex8: new Set(), square8: new Set() }
    for (const [i, name] of producers.entries()) {
      const dir = byName(name).layout.dataDir
      for (const id of await writeGames(join(dir, `selfplay/hex8/${name}.db`), name, 0, 60 + i * 10)) expected.hex8!.add(id)
      for (const id of await writeGames(join(dir, `selfplay/square8/${name}.db`), name, 0, 20, { board: 'square8' })) expected.square8!.add(id)
      // the same games written on two nodes (a retried job): merged once
      if (i < 2) for (const id of await writeGames(join(dir, `selfplay/hex8/shared-${name}.db`), 'shared', 0, 15)) expected.hex8!.add(id)
    }
    await Promise.all(nodes.map((n) => n.rescan()))
    for (const b of builders) {
      for (const board of ['hex8', 'square8']) {
        const target = join(byName(b).layout.dataDir, `games/canonical_${board}.db`)
        await waitFor(`${b} canonical_${board} complete`, () => {
          try {
            const t = byName(b).merges.status().targets.find((x) => x.target === `games/canonical_${board}.db`)
            return gameIds(target).length === expected[board]!.size && t?.rowsTotal === expected[board]!.size * 4
          } catch {
            return false
          }
        }, 90_000, 250)
      }
    }
    const hashes = new Map<string, string>()
    for (const b of builders) {
      const node = byName(b)
      for (const board of ['hex8', 'square8']) {
        const target = join(node.layout.dataDir, `games/canonical_${board}.db`)
        // gameIds throws on a game present twice
        expect(new Set(gameIds(target))).toEqual(expected[board])
        expect(integrity(target)).toBe('ok')
        const t = node.merges.status().targets.find((x) => x.target === `games/canonical_${board}.db`)!
        expect(t.countOk).toBe(true)
        expect(t.rowsTotal).toBe(expected[board]!.size * 4)
        const prior = hashes.get(board)
        if (prior != null) expect(t.contentHash).toBe(prior)
        hashes.set(board, t.contentHash)
      }
      // no builder merged a target (its own or the other builder's copy) as a source
      expect(node.merges.provenance.sources().every((s) => s.sourcePath.startsWith('selfplay/'))).toBe(true)
      const merged = eventsOf(node, 'database_merged')
      expect(merged.length).toBeGreaterThan(0)
      expect(merged.every((e) => e.data?.countOk === true)).toBe(true)
    }
    // self-play nodes build nothing
    for (const p of producers) expect(byName(p).merges.status().targets).toEqual([])
  }, 150_000)
})
