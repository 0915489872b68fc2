import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { eventsOf, REPLICATION_FAST, sha256Of } from '../replication/support.js'

/** 500 hit the race hundreds of times before the fix (525 removals in one run); MESHSYNC_SCAN_RACE_FILES=2000 for the figure. */
const FILES = Number(process.env.MESHSYNC_SCAN_RACE_FILES ?? 500)
/** Generous: under a loaded 2-core machine a few files per second is what we have seen. */
const PULL_MS = Math.max(240_000, FILES * 400)
const DIRS = 20

/** Every regular file under `dir` (relative, '/'-separated), meshsync's own folder left out. */
async function tree(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = []
  for (const d of await readdir(join(dir, rel), { withFileTypes: true })) {
    const r = rel === '' ? d.name : `${rel}/${d.name}`
    if (rel === '' && d.name.startsWith('.')) continue
    if (d.isDirectory()) out.push(...(await tree(dir, r)))
    else if (d.isFile()) out.push(r)
  }
  return out
}

/**
 * Issue 11 section 3: thousands of small files land on b while its scanner
 * runs again and again (a short scan interval, and every landing pokes a scan
 * through fs.watch). A scan that listed a folder before a file landed in it
 * must not take the file out of the catalog, must not announce it again as
 * b's own, and the same bytes must not be fetched a second time under a
 * second name.
 */
describe('files that land while the scanner runs', () => {
  const nodes: MeshsyncNode[] = []
  afterAll(async () => stopAll(nodes))

  it(`${FILES} small files pulled from a to b: each lands once, keeps a's origin, and b's catalog is a's tree`, async () => {
    const aDir = await mkdtemp(join(tmpdir(), 'meshsync-scanrace-a-'))
    const want = new Map<string, string>()
    for (let i = 0; i < FILES; i++) {
      const rel = `games/d${String(i % DIRS).padStart(2, '0')}/f${String(i).padStart(5, '0')}.dat`
      const bytes = randomBytes(4096 + Math.floor(Math.random() * 60 * 1024))
      await mkdir(join(aDir, 'games', `d${String(i % DIRS).padStart(2, '0')}`), { recursive: true })
      await writeFile(join(aDir, rel), bytes)
      want.set(rel, sha256Of(bytes))
    }
    // the machine's load average must not hold the pull back (backpressure): this test is about correctness
    const settings = { ...REPLICATION_FAST, 'catalog.scanIntervalSeconds': 0.1, 'catalog.stableSeconds': 0.2, 'replication.backpressureLoad': 1000 }
    const a = await startNode({ name: 'scanrace-a', dataDir: aDir, settings })
    nodes.push(a)
    await waitFor(`a catalogs its ${FILES} files`, async () => {
      await a.rescan()
      return a.manifest.count === FILES
    }, 120_000, 200)

    const b = await startNode({ name: 'scanrace-b', bootstrap: [a.addresses[0]!], settings })
    nodes.push(b)
    const removed: string[] = []
    const notA: string[] = []
    b.manifest.onChange((e, gone) => {
      if (gone) removed.push(e.path)
      else if (e.origin !== a.peerId) notA.push(`${e.path} (origin ${e.origin.slice(-6)}, v${e.version})`)
    })
    const t0 = Date.now()
    let last = ''
    await waitFor(`b holds all ${FILES} files`, () => {
      last = `catalog ${b.manifest.count}, sync_completed ${eventsOf(b, 'sync_completed').length}, transfers ${b.transfers.downloading().length} active, planner ${JSON.stringify(b.planner.stats)}`
      return b.manifest.count >= FILES && eventsOf(b, 'sync_completed').length >= FILES
    }, PULL_MS, 200).catch((err: Error) => {
      throw new Error(`${err.message}; at the end: ${last}`)
    })
    const ms = Date.now() - t0
    // several more scans over the settled tree: a file dropped late would show now
    for (let i = 0; i < 5; i++) await b.rescan()
    await new Promise((r) => setTimeout(r, 1500))
    for (let i = 0; i < 3; i++) await b.rescan()
    console.log(`scan-during-landing: ${FILES} files reached b in ${ms} ms (${Math.round((FILES / ms) * 1000)} files/s, under test load)`)

    expect(removed, 'catalog removals on b').toEqual([])
    expect(notA, 'entries on b whose origin is not a').toEqual([])
    const completed = eventsOf(b, 'sync_completed').map((e) => e.sha256!)
    const twice = completed.filter((s, i) => completed.indexOf(s) !== i)
    expect(twice, 'files fetched more than once').toEqual([])
    expect(completed.length).toBe(FILES)

    const onDisk = (await tree(b.layout.dataDir)).sort()
    expect(onDisk).toEqual([...want.keys()].sort())
    const catalog = [...b.manifest.all()].map((f) => [f.path, f.sha256, f.origin, f.version] as const).sort((x, y) => (x[0] < y[0] ? -1 : 1))
    expect(catalog).toEqual([...want.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1)).map(([p, s]) => [p, s, a.peerId, a.manifest.get(p)!.version] as const))
    // the bytes on b are the ones a has (spot check of every 50th file; all are SHA-256-verified on landing)
    for (const [rel, sha] of [...want.entries()].filter((_, i) => i % 50 === 0)) expect(sha256Of(await readFile(join(b.layout.dataDir, rel)))).toBe(sha)
  }, PULL_MS + 300_000)
})
