import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { copyFixture, eventsOf, holdersOnDisk, REPLICATION_FAST, writeRandom } from './support.js'
import { localApiHeaders } from '../../src/api/key.js'

/**
 * Five real nodes over loopback with the built-in policies: games and other
 * data keep 2 copies on any role but coordinators; NPZ and models go to every
 * training node. Files are written into one node's data dir and nothing else
 * is done: the cluster places them by itself.
 */
describe('replication from gossip, 5 nodes, built-in policies', () => {
  let nodes: MeshsyncNode[] = []
  const byName = (n: string): MeshsyncNode => nodes.find((x) => x.config.node.name === n)!
  const roles: [string, string][] = [
    ['gen', 'selfplay'],
    ['t1', 'training'],
    ['t2', 'training'],
    ['st', 'storage'],
    ['co', 'coordinator'],
  ]

  beforeAll(async () => {
    const first = await startNode({ name: 'gen', settings: { ...REPLICATION_FAST, 'node.role': 'selfplay' } })
    const boot = [first.addresses[0]!]
    const rest = await Promise.all(
      roles.slice(1).map(([name, role]) => startNode({ name, bootstrap: boot, settings: { ...REPLICATION_FAST, 'node.role': role } })),
    )
    nodes = [first, ...rest]
    await waitFor('every node sees the other four up', () => nodes.every((n) => n.view.peers().filter((p) => p.state === 'up').length === 4), 30_000)
  }, 60_000)

  afterAll(async () => stopAll(nodes))

  it('a games database written on the generator reaches 2 copies, never on the coordinator', async () => {
    const gen = byName('gen')
    const sha = await copyFixture(gen, 'sqlite/selfplay_hex8_2p.db', 'games/selfplay_hex8_2p.db')
    await gen.rescan()
    const holders = await waitFor('2 copies on disk', async () => {
      const h = await holdersOnDisk(nodes, sha)
      return h.length >= 2 ? h : undefined
    }, 30_000)
    expect(holders).toContain('gen')
    expect(holders).not.toContain('co')
    // and it stays at 2: nobody else pulls it (max 3, no storm)
    await new Promise((r) => setTimeout(r, 2000))
    expect((await holdersOnDisk(nodes, sha)).length).toBe(2)
    for (const n of nodes) {
      const f = n.readModels.files().find((x) => x.sha256 === sha)
      expect(f?.minCopies).toBe(2)
      expect(f?.verifiedCopies).toBe(2)
    }
  }, 60_000)

  it('an NPZ export goes to every training node (and only there), with npz_export_complete on the generator', async () => {
    const gen = byName('gen')
    const sha = await copyFixture(gen, 'npz/hex8_2p.npz', 'npz/hex8_2p_0001.npz')
    await gen.rescan()
    await waitFor('t1 and t2 hold the NPZ', async () => {
      const h = await holdersOnDisk(nodes, sha)
      return h.includes('t1') && h.includes('t2')
    }, 30_000)
    await new Promise((r) => setTimeout(r, 1500))
    expect(await holdersOnDisk(nodes, sha)).toEqual(['gen', 't1', 't2'])
    const ev = eventsOf(gen, 'npz_export_complete').find((e) => e.sha256 === sha)
    expect(ev?.data?.targets).toEqual(expect.arrayContaining(['t1', 't2']))
  }, 60_000)

  it('a promoted model reaches every training node, model_distributed follows', async () => {
    const gen = byName('gen')
    const sha = await copyFixture(gen, 'models/policy_hex8_2p.safetensors', 'models/candidate_42.safetensors')
    await gen.rescan()
    await waitFor('the model is cataloged', () => gen.manifest.has(sha))
    const res = await fetch(`http://${gen.apiAddress}/promote`, { method: 'POST', headers: localApiHeaders(gen.apiAddress!), body: JSON.stringify({ path: 'models/candidate_42.safetensors' }) })
    expect(res.status).toBe(200)
    expect(((await res.json()) as { promoted: boolean }).promoted).toBe(true)
    const distributed = await waitFor('model_distributed', () => eventsOf(gen, 'model_distributed').find((e) => e.sha256 === sha), 30_000)
    expect(distributed.data?.nodes).toEqual(expect.arrayContaining(['t1', 't2']))
    const holders = await holdersOnDisk(nodes, sha)
    expect(holders).toEqual(expect.arrayContaining(['gen', 't1', 't2']))
    expect(holders).not.toContain('co')
    expect(eventsOf(gen, 'model_promoted').some((e) => e.sha256 === sha)).toBe(true)
    // the transfer was critical on the receivers
    const t1 = byName('t1')
    const started = eventsOf(t1, 'sync_started').find((e) => e.sha256 === sha)
    expect(started).toBeDefined()
  }, 60_000)

  it('promoting a file the node does not hold is a clear 404', async () => {
    const res = await fetch(`http://${byName('gen').apiAddress}/promote`, { method: 'POST', headers: localApiHeaders(byName('gen').apiAddress!), body: JSON.stringify({ path: 'models/nope.safetensors' }) })
    expect(res.status).toBe(404)
    expect(await res.text()).toMatch(/models\/nope.safetensors/)
  })

  it('holders that go away are re-replicated after the grace period, and only then', async () => {
    const gen = byName('gen')
    const sha = await writeRandom(gen, 'other/blob-repair.dat', 3 * 1024 * 1024 + 17)
    await gen.rescan()
    await waitFor('2 copies', async () => (await holdersOnDisk(nodes, sha)).length >= 2, 30_000)
    await new Promise((r) => setTimeout(r, 1000))
    // every holder but the origin goes (on a loaded machine a third copy may have been made: it goes too)
    const before = await holdersOnDisk(nodes, sha)
    const victims = nodes.filter((n) => n.config.node.name !== 'gen' && before.includes(n.config.node.name))
    nodes = nodes.filter((n) => !victims.includes(n))
    const stoppedAt = Date.now()
    await stopAll(victims)
    const after = await waitFor('a new second copy', async () => {
      const h = await holdersOnDisk(nodes, sha)
      return h.length >= 2 ? h : undefined
    }, 40_000)
    const tookMs = Date.now() - stoppedAt
    for (const v of victims) expect(after).not.toContain(v.config.node.name)
    expect(after).not.toContain('co')
    // down after 2.5 s without health, then 4 s of grace: no repair before that
    expect(tookMs, `after: ${after}, before: ${before}`).toBeGreaterThan(4000)
    const repairs = nodes.flatMap((n) => eventsOf(n, 'repair_started').filter((e) => e.sha256 === sha))
    expect(repairs.length).toBe(1)
    await waitFor('every node counts 2 copies', () => nodes.every((n) => n.readModels.files().find((x) => x.sha256 === sha)?.verifiedCopies === 2), 10_000)
    const status = gen.readModels.status() as { replication: { filesUnderMin: number } }
    await waitFor('no file under its minimum', () => (gen.readModels.status() as typeof status).replication.filesUnderMin === 0, 10_000)
  }, 90_000)
})
