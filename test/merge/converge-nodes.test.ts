import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { REPLICATION_FAST } from '../replication/support.js'

/**
 * Three real nodes each change their own elo.db at the same time; converge
 * mode pulls the peers' versions (they land beside elo.db under their hash)
 * and merges them in: all three end with the same rows and content hash.
 */
const MERGES = { elo: { mode: 'converge', sources: ['elo.db'], tables: { ratings: { key: ['model'] } }, conflict: 'newest:updated_at', intervalSeconds: 0.5 } }

let nodes: MeshsyncNode[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})

function writeElo(path: string, rows: [string, number, number][]): void {
  const db = new Database(path)
  try {
    db.exec('CREATE TABLE IF NOT EXISTS ratings(model TEXT PRIMARY KEY, elo REAL NOT NULL, updated_at INTEGER NOT NULL)')
    const put = db.prepare('INSERT INTO ratings VALUES (?, ?, ?) ON CONFLICT(model) DO UPDATE SET elo = excluded.elo, updated_at = excluded.updated_at')
    for (const r of rows) put.run(...r)
  } finally {
    db.close()
  }
}

function readRows(path: string): unknown[] {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    return db.prepare('SELECT model, elo, updated_at FROM ratings ORDER BY model').all()
  } finally {
    db.close()
  }
}

describe('converge over real nodes', () => {
  it('Elo ratings changed on three nodes at once end identical on all three', async () => {
    const settings = { ...REPLICATION_FAST, merges: MERGES }
    const first = await startNode({ name: 'e0', settings })
    const boot = [first.addresses[0]!]
    nodes = [first, ...(await Promise.all(['e1', 'e2'].map((name) => startNode({ name, bootstrap: boot, settings }))))]
    await waitFor('all up', () => nodes.every((n) => n.view.peers().filter((p) => p.state === 'up').length === 2), 30_000)
    // the same models rated on several nodes; m-shared at the same timestamp on two of them (a tie)
    const writes: [string, number, number][][] = [
      [['m-a', 1500, 10], ['m-shared', 1510, 20], ['m-tie', 1400, 30]],
      [['m-b', 1600, 11], ['m-shared', 1490, 25], ['m-tie', 1420, 30]],
      [['m-c', 1700, 12], ['m-shared', 1480, 15]],
    ]
    for (const [i, n] of nodes.entries()) writeElo(join(n.layout.dataDir, 'elo.db'), writes[i]!)
    await Promise.all(nodes.map((n) => n.rescan()))
    const expected = [
      { model: 'm-a', elo: 1500, updated_at: 10 },
      { model: 'm-b', elo: 1600, updated_at: 11 },
      { model: 'm-c', elo: 1700, updated_at: 12 },
      { model: 'm-shared', elo: 1490, updated_at: 25 },
      // a tie on updated_at is broken by the row's values, the same way on every node
      { model: 'm-tie', elo: 1420, updated_at: 30 },
    ]
    await waitFor(
      'every copy converged',
      () => nodes.every((n) => JSON.stringify(readRows(join(n.layout.dataDir, 'elo.db'))) === JSON.stringify(expected)),
      90_000,
      250,
    )
    const hashes = await waitFor('content hashes recorded', () => {
      const h = nodes.map((n) => n.merges.status().targets.find((t) => t.target === 'elo.db')?.contentHash)
      return h.every((x) => x != null && x === h[0]) ? h : undefined
    }, 30_000, 250)
    expect(new Set(hashes).size).toBe(1)

    // a later change on one node reaches the others the same way
    writeElo(join(nodes[1]!.layout.dataDir, 'elo.db'), [['m-a', 1555, 40]])
    await nodes[1]!.rescan()
    const after = expected.map((r) => (r.model === 'm-a' ? { model: 'm-a', elo: 1555, updated_at: 40 } : r))
    await waitFor('the later change everywhere', () => nodes.every((n) => JSON.stringify(readRows(join(n.layout.dataDir, 'elo.db'))) === JSON.stringify(after)), 90_000, 250)
  }, 200_000)
})
