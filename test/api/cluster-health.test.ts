import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClusterHealth } from '../../src/api/cluster-health.js'
import { stalledLoops } from '../../src/api/cluster-health.js'
import type { MeshsyncNode } from '../../src/node.js'
import { systemClock } from '../../src/util/clock.js'
import { silentLogger } from '../../src/util/log.js'
import { Loop, loopScope } from '../../src/util/loop.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { REPLICATION_FAST } from '../replication/support.js'
import { http, meshsync } from './support.js'

const health = async (n: MeshsyncNode): Promise<{ status: number; body: ClusterHealth }> => {
  const r = await http(n.apiAddress!, 'GET', '/health/cluster')
  return { status: r.status, body: JSON.parse(r.text) as ClusterHealth }
}

/** GET /health/cluster and `meshsync doctor` on real nodes: each problem names its file, node or loop. */
describe('cluster health', () => {
  let a: MeshsyncNode
  let b: MeshsyncNode | undefined
  // backpressureLoad: this shared test machine's load must not stop replication
  const settings = { ...REPLICATION_FAST, 'replication.backpressureLoad': 1000, 'alerts.loopStallMinSeconds': 3, 'alerts.underMinGraceSeconds': 1, 'alerts.maxSyncLagSeconds': 2, 'replication.downGraceSeconds': 1, 'policies.all.minCopies': 2, 'policies.all.maxCopies': 2 }

  beforeAll(async () => {
    a = await startNode({ name: 'ha', settings })
    b = await startNode({ name: 'hb', bootstrap: [a.addresses[0]!], settings })
  })
  afterAll(() => stopAll([a, b]))

  it('a healthy pair: 200, ok, and doctor exits 0', async () => {
    await waitFor('both see each other', () => a.view.get(b!.peerId)?.state === 'up' && b!.view.get(a.peerId)?.state === 'up')
    const h = await waitFor('healthy', async () => {
      const x = await health(a)
      return x.status === 200 ? x : undefined
    })
    expect(h.body.ok).toBe(true)
    expect(h.body.problems).toEqual([])
    const d = await meshsync(['doctor', '--api', a.apiAddress!])
    expect(d.code).toBe(0)
    expect(d.stdout).toMatch(/^ok: ha sees the cluster safe/)
  }, 60_000)

  it('a file copied once it is on both; then a node goes down: 503, the file and node are named, doctor exits 1', async () => {
    await writeFile(join(a.layout.dataDir, 'precious.bin'), randomBytes(10_000))
    await a.rescan()
    await waitFor('b holds the copy', () => [...b!.manifest.all()].some((f) => f.path === 'precious.bin'), 30_000)
    await b!.stop()
    const h = await waitFor(
      'health says the file is under its minimum and hb is down',
      async () => {
        const x = await health(a)
        return x.status === 503 && x.body.problems.some((p) => p.kind === 'under_min') && x.body.problems.some((p) => p.kind === 'node_down') ? x : undefined
      },
      30_000,
    )
    const under = h.body.problems.find((p) => p.kind === 'under_min')!
    expect(under.subject).toBe('precious.bin')
    expect(under.message).toMatch(/precious\.bin has 1 of 2 copies/)
    expect(under.action).toMatch(/only ha holds it/)
    expect(h.body.problems.find((p) => p.kind === 'node_down')!.subject).toBe('hb')
    const d = await meshsync(['doctor', '--api', a.apiAddress!])
    expect(d.code).toBe(1)
    expect(d.stdout).toMatch(/NOT SAFE/)
    expect(d.stdout).toMatch(/UNDER_MIN +precious\.bin has 1 of 2 copies/)
    expect(d.stdout).toMatch(/NODE_DOWN +node hb is down/)
    const lag = await waitFor('sync lag over the limit', async () => (await health(a)).body.problems.find((p) => p.kind === 'sync_lag'), 20_000)
    expect(lag.subject).toBe('precious.bin')
  }, 90_000)

  it('a stalled loop is named with what it is doing', async () => {
    const hung = loopScope.run(a.loops, () => new Loop({ name: 'test-hung', intervalMs: 100, clock: systemClock, log: silentLogger }, () => new Promise<void>(() => {})))
    hung.start()
    await waitFor('the tick runs', () => hung.status.tickSinceMs != null)
    const p = stalledLoops([hung.status], Date.now() + 5000, 10, 1000)
    expect(p).toHaveLength(1)
    expect(p[0]!.message).toMatch(/loop test-hung: no successful tick for 5 s .*current tick has run/)
    expect(stalledLoops([hung.status], Date.now() + 500, 10, 1000)).toEqual([])
    // and through the node's route once past the allowance
    const x = await waitFor('the route names the loop', async () => (await health(a)).body.problems.find((q) => q.subject === 'test-hung'), 90_000, 1000)
    expect(x.kind).toBe('loop_stalled')
    void hung.stop()
  }, 120_000)

  it('a state database that cannot be written is named', async () => {
    const n = await startNode({ name: 'hdb' })
    try {
      n.db.close()
      const h = await waitFor('db problem', async () => (await health(n)).body.problems.find((p) => p.kind === 'not_writable'))
      expect(h.subject).toBe(n.layout.db)
      expect(h.message).toMatch(/state database .*state\.db cannot be written/)
    } finally {
      await stopAll([n])
    }
  })

  it('a node past disk.urgentAt is named', async () => {
    const n = await startNode({ name: 'hfull', settings: { 'disk.pushAt': 0.00001, 'disk.urgentAt': 0.00002, 'disk.cleanupAt': 0.00003 } })
    try {
      const h = await waitFor('disk problem', async () => (await health(n)).body.problems.find((p) => p.kind === 'disk_urgent'))
      expect(h.subject).toBe('hfull')
      expect(h.message).toMatch(/node hfull: disk .*% used, past disk.urgentAt/)
    } finally {
      await stopAll([n])
    }
  })
})
