import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { HealthReport } from '../../protocols/health/index.js'
import type { EntryKind, ManifestEntry } from '../../protocols/manifest/index.js'
import { resolveLayers } from '../../src/config/load.js'
import { MeshsyncNode } from '../../src/node.js'
import { silentLogger } from '../../src/util/log.js'
import { benchArgs } from './args.js'
import { CHROMIUM, launchChromium } from './chromium.js'
import { round } from './stats.js'

const KINDS: EntryKind[] = ['sqlite', 'npz', 'model', 'other']
const DIRS: Record<EntryKind, string> = { sqlite: 'games', npz: 'npz', model: 'models', other: 'misc' }
const sha = (s: string): string => createHash('sha256').update(s).digest('hex')
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN
const ms = async (fn: () => Promise<unknown> | unknown): Promise<number> => {
  const t = performance.now()
  await fn()
  return performance.now() - t
}

/**
 * The dashboard with 50 nodes and 100,000 files in its view: one real node,
 * whose cluster view is seeded in-process with 49 simulated peers (their
 * health and manifests go through ClusterView.applyHealth/replaceManifest,
 * which also writes the view's SQLite) — no real peers or gossip. Measures
 * the routes the page polls, the first render in headless chromium (Debian's),
 * and the update latency: a file announced by a peer until its row shows.
 *
 *   npm run bench -- dashboard [--nodes 50] [--files 100000] [--updates 5]
 */
export async function run(argv: string[]): Promise<void> {
  const { num } = benchArgs(argv)
  const nodes = num('nodes', 50)
  const files = num('files', 100_000)
  const updates = num('updates', 5)
  const dataDir = await mkdtemp(join(tmpdir(), 'meshsync-bench-dashboard-'))
  const config = resolveLayers(
    [
      {
        source: 'bench',
        values: {
          'node.name': 'dash',
          dataDir,
          listen: ['/ip4/127.0.0.1/tcp/0'],
          'api.listen': '127.0.0.1:0',
          // the simulated peers send no real health: keep them up by hand (below), never by timeout
          'gossip.suspectAfterSeconds': 3600,
          'gossip.downAfterSeconds': 7200,
          'replication.backpressureLoad': 1000,
          'disk.minFree': 0,
        },
      },
    ],
    { cwd: process.cwd() },
  )
  const node = new MeshsyncNode({ config, log: silentLogger })
  await node.start()
  const out: Record<string, number> = {}
  try {
    const peers = await Promise.all(Array.from({ length: nodes - 1 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
    const entries = new Map<string, ManifestEntry[]>(peers.map((p) => [p, []]))
    for (let i = 0; i < files; i++) {
      const kind = KINDS[i % KINDS.length]!
      const origin = peers[i % peers.length]!
      const e: ManifestEntry = { path: `${DIRS[kind]}/n${i % peers.length}/f${String(i).padStart(6, '0')}.bin`, sha256: sha(`f${i}`), size: 1_000_000 + (i % 1000) * 1000, kind, origin, version: 1, mtimeMs: 0, chunkRoot: sha(`c${i}`), promoted: false }
      entries.get(origin)!.push(e)
      // 99 of every 100 files have a second copy
      if (i % 100 !== 0) entries.get(peers[(i + 7) % peers.length]!)!.push(e)
    }
    let seq = 1
    const health = (peer: string, idx: number): HealthReport => ({
      seq: seq++,
      timeMs: Date.now(),
      name: `sim-${String(idx).padStart(2, '0')}`,
      role: idx % 5 === 0 ? 'storage' : 'selfplay',
      provider: idx % 2 === 0 ? 'aws' : 'lambda',
      tags: [],
      ephemeral: false,
      disk: { total: 1e12, free: 1e12 * (1 - (idx % 8) / 10), usedFraction: (idx % 8) / 10, level: 'ok' },
      load: 0.5,
      accepting: true,
      version: 'bench',
      uptimeMs: 1000,
      addrs: [],
      btPort: 0,
      transports: ['tcp'],
      manifest: { seq: 1, digest: node.view.get(peer) != null ? node.view.digestOf(node.view.get(peer)!) : '0'.repeat(64), count: entries.get(peer)!.length },
      evacuating: false,
      evacuateDeadlineMs: 0,
      downloading: [],
      transfersActive: 0,
    })
    out.seedMs = await ms(() => {
      peers.forEach((p, i) => {
        node.view.applyHealth(p, health(p, i))
        node.view.replaceManifest(p, 1, entries.get(p)!)
      })
    })
    const keepUp = setInterval(() => peers.forEach((p, i) => {
      node.view.applyHealth(p, health(p, i))
    }), 2000)
    try {
      out.plannerTickMs = await ms(() => node.planner.tick())
      const api = `http://${node.apiAddress}`
      const get = async (path: string): Promise<number> => ms(async () => (await fetch(`${api}${path}`)).arrayBuffer())
      out.overviewColdMs = await get('/ui/overview')
      out.overviewWarmMs = median([await get('/ui/overview'), await get('/ui/overview'), await get('/ui/overview')])
      out.filesFirstPageMs = median([await get('/ui/files?limit=50'), await get('/ui/files?limit=50'), await get('/ui/files?limit=50')])
      out.filesDeepPageMs = await get(`/ui/files?offset=${Math.floor(files / 2)}&limit=50`)
      out.filesFilteredMs = await get('/ui/files?glob=npz/n3/**&under=true')
      process.stdout.write(`seeded ${nodes} nodes, ${files} files (${round(out.seedMs, 0)} ms); planner tick ${round(out.plannerTickMs, 0)} ms\n`)
      process.stdout.write(`GET /ui/overview ${round(out.overviewColdMs, 1)} ms cold, ${round(out.overviewWarmMs, 1)} ms warm; /ui/files page 1 ${round(out.filesFirstPageMs, 1)} ms, page ${Math.floor(files / 100)} ${round(out.filesDeepPageMs, 1)} ms, glob+under filter ${round(out.filesFilteredMs, 1)} ms\n`)

      if (!existsSync(CHROMIUM)) {
        process.stdout.write('no /usr/bin/chromium: browser figures skipped (apt-get install chromium)\n')
      } else {
        const profile = await mkdtemp(join(tmpdir(), 'meshsync-bench-chromium-'))
        const ctx = await launchChromium(profile)
        try {
          const page = ctx.pages()[0] ?? (await ctx.newPage())
          const t0 = performance.now()
          await page.goto(`${api}/`)
          await page.locator('#files tbody tr').first().waitFor({ timeout: 120_000 })
          await page.locator(`#nodes tbody tr >> nth=${nodes - 1}`).waitFor({ timeout: 120_000 })
          out.firstRenderMs = performance.now() - t0
          await page.fill('#file-filter input[name="glob"]', 'zzz/**')
          const lat: number[] = []
          for (let u = 0; u < updates; u++) {
            const p = peers[u % peers.length]!
            const e: ManifestEntry = { path: `zzz/new-${u}.bin`, sha256: sha(`new${u}`), size: 1000, kind: 'other', origin: p, version: 1, mtimeMs: 0, chunkRoot: sha(`nc${u}`), promoted: false }
            const rec = node.view.get(p)!
            const t = performance.now()
            node.view.applyDelta(p, { seq: rec.manifestSeq + 1, prevSeq: rec.manifestSeq, timeMs: Date.now(), upserts: [e], removed: [] })
            await page.locator(`#files tr[data-path="zzz/new-${u}.bin"]`).waitFor({ timeout: 120_000 })
            lat.push(performance.now() - t)
          }
          out.updateLatencyMedianMs = median(lat)
          out.updateLatencyMaxMs = Math.max(...lat)
          process.stdout.write(
            `chromium: first render (nodes table with ${nodes} rows and the first file page) ${round(out.firstRenderMs, 0)} ms; update latency (a peer announces a file until its row shows) median ${round(out.updateLatencyMedianMs, 0)} ms, max ${round(out.updateLatencyMaxMs, 0)} ms over ${updates}\n`,
          )
          process.stdout.write(`(the update waits for the planner's tick, replication.intervalSeconds = ${config.replication.intervalSeconds} s, and the page's 2 s poll)\n`)
        } finally {
          await ctx.close()
          await rm(profile, { recursive: true, force: true })
        }
      }
    } finally {
      clearInterval(keepUp)
    }
  } finally {
    await node.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
  process.stdout.write(`${JSON.stringify({ bench: 'dashboard', nodes, files, ...Object.fromEntries(Object.entries(out).map(([k, v]) => [k, round(v, 1)])) })}\n`)
}
