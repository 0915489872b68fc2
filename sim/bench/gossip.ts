import { pubsubOf } from '../../src/mesh/libp2p.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { resolveLayers } from '../../src/config/load.js'
import { MeshsyncNode } from '../../src/node.js'
import { silentLogger } from '../../src/util/log.js'
import { percentile, round } from './stats.js'
import { benchArgs } from './args.js'

/**
 * Gossip latency: from a manifest change on one node to the entry in every
 * other node's catalog, next to raw gossipsub latency (a bare publish on a
 * topic of its own) measured in the same run, on the same nodes.
 *
 *   npm run bench -- gossip [--nodes 10,20] [--changes 100] [--health-interval S]
 *
 * --health-interval sets gossip.healthIntervalSeconds (default 2; suspect and
 * down follow at 3x and 7.5x it, as the defaults): 50 nodes in one process saturate the one JS
 * thread at 2 s.
 */
export async function run(argv: string[]): Promise<void> {
  const { str: arg, num } = benchArgs(argv)
  const sizes = arg('nodes', '10,20').split(',').map(Number)
  const changes = num('changes', 100)
  const health = num('health-interval', 2)
  if (!(health > 0)) throw new Error(`--health-interval must be a number of seconds above 0, not ${arg('health-interval', '')}`)
  const liveness = { 'gossip.healthIntervalSeconds': health, 'gossip.suspectAfterSeconds': 3 * health, 'gossip.downAfterSeconds': 7.5 * health }
  const results: Record<string, unknown>[] = []
  for (const n of sizes) results.push({ ...(await measure(n, changes, liveness)), healthIntervalSeconds: health })
  process.stdout.write(`${JSON.stringify({ bench: 'gossip', results })}\n`)
}

/**
 * The changes measured name files nobody holds on disk: with the built-in
 * policies every node would try to replicate them (and fail, and retry),
 * which is load the gossip figures should not carry. One copy is enough here.
 */
const NO_PULLS = { 'policies.solo.minCopies': 1, 'policies.solo.maxCopies': 1 }

async function measure(n: number, changes: number, liveness: Record<string, number>): Promise<Record<string, unknown>> {
  const nodes: MeshsyncNode[] = []
  const start = async (i: number, bootstrap: string[]) => {
    const dataDir = await mkdtemp(join(tmpdir(), `bench-gossip-${i}-`))
    const config = resolveLayers(
      [{ source: 'bench', values: { 'node.name': `g${i}`, dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], 'api.listen': '127.0.0.1:0', bootstrap, 'mesh.localCluster': true, 'catalog.scanIntervalSeconds': 3600, 'disk.minFree': 0, 'log.level': 'silent', ...NO_PULLS, ...liveness } }],
      { cwd: process.cwd() },
    )
    const node = new MeshsyncNode({ config, log: silentLogger })
    await node.start()
    return node
  }
  process.stderr.write(`gossip bench: starting ${n} nodes...\n`)
  nodes.push(await start(0, []))
  const boot = [nodes[0]!.addresses[0]!]
  // in batches: one at a time, 50 nodes take minutes to start on a busy core
  for (let i = 1; i < n; i += 10) nodes.push(...(await Promise.all(Array.from({ length: Math.min(10, n - i) }, (_, k) => start(i + k, boot)))))
  const topic = '/meshsync/bench/raw'
  for (const node of nodes) pubsubOf(node.mesh).subscribe(topic)
  // wait until everyone knows everyone and the raw topic has a mesh
  const t0 = Date.now()
  // (all up on every node; after 120 s, every node knowing every other and in the topic mesh is enough,
  // said on stderr: on one busy JS thread a few peers flap between up and suspect)
  let formed = 'fully'
  for (;;) {
    const up = (x: MeshsyncNode) => x.view.peers().filter((p) => p.state === 'up').length
    const meshed = (x: MeshsyncNode) => pubsubOf(x.mesh).getMeshPeers(topic).length > 0
    if (nodes.every((x) => up(x) === n - 1 && meshed(x))) break
    if (Date.now() - t0 > 120_000 && nodes.every((x) => x.view.peers().length >= n - 1 && meshed(x))) {
      formed = `partly (fewest peers up on a node: ${Math.min(...nodes.map(up))} of ${n - 1})`
      break
    }
    if (Date.now() - t0 > 300_000) throw new Error(`cluster did not form within 300 s (fewest peers known on a node: ${Math.min(...nodes.map((x) => x.view.peers().length))} of ${n - 1})`)
    await new Promise((r) => setTimeout(r, 200))
  }
  process.stderr.write(`gossip bench: ${n} nodes formed ${formed} in ${((Date.now() - t0) / 1000).toFixed(1)} s; measuring ${changes} changes\n`)

  // raw gossipsub: one publish, time until the last node delivered it
  const rawLatency: number[] = []
  let rawMissed = 0
  let msMissed = 0
  const rawArrivals = new Map<string, number>()
  for (const node of nodes) {
    ;pubsubOf(node.mesh).addEventListener('message', (evt) => {
      if (evt.detail.topic !== topic) return
      const id = Buffer.from(evt.detail.data).toString()
      rawArrivals.set(id, (rawArrivals.get(id) ?? 0) + 1)
    })
  }
  for (let i = 0; i < changes; i++) {
    const id = `raw-${i}`
    const from = nodes[i % n]!
    const began = performance.now()
    await pubsubOf(from.mesh).publish(topic, Buffer.from(id))
    if (await arrived(() => (rawArrivals.get(id) ?? 0) >= n - 1)) rawLatency.push(performance.now() - began)
    else rawMissed++
  }

  // meshsync: a manifest change committed on one node until every other node's catalog has the entry
  const msLatency: number[] = []
  const seen = new Map<string, number>()
  for (const node of nodes) node.view.onEntry((_peer, e) => seen.set(e.path, (seen.get(e.path) ?? 0) + 1))
  for (let i = 0; i < changes; i++) {
    const from = nodes[i % n]!
    const path = `bench/change-${i}.bin`
    const began = performance.now()
    from.manifest.put(
      {
        path, sha256: Buffer.alloc(32, i % 256).toString('hex'), size: i, kind: 'other', origin: from.peerId, version: 1, mtimeMs: Date.now(), localMtimeMs: 0,
        chunkRoot: '00'.repeat(32), chunkSize: 1 << 20, chunkHashes: Buffer.alloc(0), promoted: false, ino: 0,
      },
      Date.now(),
    )
    if (await arrived(() => (seen.get(path) ?? 0) >= n - 1)) msLatency.push(performance.now() - began)
    else msMissed++
  }
  await Promise.all(nodes.map((x) => x.stop()))
  await Promise.all(nodes.map((x) => rm(x.layout.dataDir, { recursive: true, force: true })))
  const r = {
    nodes: n,
    changes,
    meshsyncP50Ms: round(percentile(msLatency, 50)),
    meshsyncP99Ms: round(percentile(msLatency, 99)),
    rawGossipsubP50Ms: round(percentile(rawLatency, 50)),
    rawGossipsubP99Ms: round(percentile(rawLatency, 99)),
    /** Changes that had not reached every node within 30 s (not in the percentiles). */
    meshsyncMissed: msMissed,
    rawGossipsubMissed: rawMissed,
  }
  process.stdout.write(
    `${n} nodes, ${changes} changes: meshsync manifest change -> every catalog p50 ${r.meshsyncP50Ms} ms, p99 ${r.meshsyncP99Ms} ms | raw gossipsub publish -> every node p50 ${r.rawGossipsubP50Ms} ms, p99 ${r.rawGossipsubP99Ms} ms${msMissed + rawMissed > 0 ? ` | not everywhere within 30 s: meshsync ${msMissed}, raw ${rawMissed}` : ''}\n`,
  )
  return r
}

/** Polls `done` (every millisecond, without starving the nodes of the event loop) for up to 30 s. */
async function arrived(done: () => boolean, timeoutMs = 30_000): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (!done()) {
    if (performance.now() > deadline) return false
    await new Promise((r) => setTimeout(r, 1))
  }
  return true
}
