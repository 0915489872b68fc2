import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { resolveLayers } from '../../src/config/load.js'
import { MeshsyncNode } from '../../src/node.js'
import { silentLogger } from '../../src/util/log.js'
import { percentile, round } from './stats.js'
import { benchArgs } from './args.js'

/**
 * Replication timing on 8 nodes over loopback (one process):
 * - creation to minimum copies: a file written on one node, until it has its
 *   minimum (2) copies, per file; next to the baseline of a plain fetch of a
 *   file of the same size between two of the same nodes (the transfer alone);
 * - death to repair: a holder stops; time until every file it held is back at
 *   its minimum, reported whole and after the down detection plus the grace
 *   period (the floor the configuration sets).
 *
 *   npm run bench -- replication [--nodes 8] [--files 20] [--size-mib 8] [--grace 3]
 */
export async function run(argv: string[]): Promise<void> {
  const { num } = benchArgs(argv)
  const n = num('nodes', 8)
  const files = num('files', 20)
  const size = num('size-mib', 8) * 1024 * 1024
  const graceS = num('grace', 3)
  const downAfterS = 2
  const nodes: MeshsyncNode[] = []
  const start = async (i: number, bootstrap: string[]): Promise<MeshsyncNode> => {
    const dataDir = await mkdtemp(join(tmpdir(), `bench-repl-${i}-`))
    const config = resolveLayers(
      [
        {
          source: 'bench',
          values: {
            'node.name': `r${i}`,
            dataDir,
            listen: ['/ip4/127.0.0.1/tcp/0'],
            'api.listen': '127.0.0.1:0',
            bootstrap,
            'mesh.localCluster': true,
            'gossip.healthIntervalSeconds': 0.5,
            'gossip.suspectAfterSeconds': 1,
            'gossip.downAfterSeconds': downAfterS,
            'catalog.stableSeconds': 0.2,
            'replication.intervalSeconds': 1,
            'replication.downGraceSeconds': graceS,
            'replication.repairsPerMinute': 600,
            'disk.minFree': 0,
            'log.level': 'silent',
          },
        },
      ],
      { cwd: process.cwd() },
    )
    const node = new MeshsyncNode({ config, log: silentLogger })
    await node.start()
    return node
  }
  try {
    process.stderr.write(`replication bench: starting ${n} nodes...\n`)
    nodes.push(await start(0, []))
    const boot = [nodes[0]!.addresses[0]!]
    nodes.push(...(await Promise.all(Array.from({ length: n - 1 }, (_, i) => start(i + 1, boot)))))
    await until('cluster formed', () => nodes.every((x) => x.view.peers().filter((p) => p.state === 'up').length === n - 1), 120_000)
    await new Promise((r) => setTimeout(r, 3000)) // past every planner's warm-up

    // baseline: one plain fetch of the same size between two nodes
    const src = nodes[0]!
    const baseSha = await writeData(src, 'bench/baseline.dat', size)
    await until('baseline cataloged', async () => {
      await src.rescan()
      return src.manifest.has(baseSha)
    })
    const holdersOf = (sha: string): MeshsyncNode[] => nodes.filter((x) => x.manifest.has(sha))
    // let replication place the baseline file first, then fetch it onto a node that does not hold it
    await until('baseline placed', () => holdersOf(baseSha).length >= 2, 60_000)
    const target = nodes.find((x) => !x.manifest.has(baseSha))!
    const b0 = performance.now()
    await target.fetch(baseSha)
    const baselineMs = performance.now() - b0

    // creation -> minimum copies: one file alone, then a batch written at once
    const singles: number[] = []
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now()
      const sha = await writeData(src, `bench/single-${i}.dat`, size)
      await until('single file at 2 copies', () => holdersOf(sha).length >= 2, 60_000, 10)
      singles.push(performance.now() - t0)
    }
    process.stderr.write(`replication bench: ${files} files of ${size / 2 ** 20} MiB written on r0\n`)
    const created = new Map<string, number>()
    const reached = new Map<string, number>()
    for (let i = 0; i < files; i++) {
      const sha = await writeData(src, `bench/f${i}.dat`, size)
      created.set(sha, performance.now())
    }
    await src.rescan()
    await until('every file at 2 copies', () => {
      for (const sha of created.keys()) if (!reached.has(sha) && holdersOf(sha).length >= 2) reached.set(sha, performance.now())
      return reached.size === created.size
    }, 300_000, 20)
    const toMin = [...created].map(([sha, t]) => reached.get(sha)! - t)

    // death -> repair
    const victim = nodes.find((x) => x !== src && [...created.keys()].some((sha) => x.manifest.has(sha)))!
    const lost = [...created.keys()].filter((sha) => victim.manifest.has(sha))
    const rest = nodes.filter((x) => x !== victim)
    process.stderr.write(`replication bench: stopping ${victim.config.node.name}, which holds ${lost.length} of the files\n`)
    const d0 = performance.now()
    await victim.stop()
    await until('every lost copy repaired', () => lost.every((sha) => rest.filter((x) => x.manifest.has(sha)).length >= 2), 300_000, 20)
    const repairMs = performance.now() - d0
    const floorMs = (downAfterS + graceS) * 1000
    const moved = rest.reduce((s, x) => s + x.transfers.list().length, 0)

    const result = {
      bench: 'replication',
      nodes: n,
      files,
      sizeMiB: size / 2 ** 20,
      baselineFetchMs: round(baselineMs),
      singleFileToMinCopiesMs: { p50: round(percentile(singles, 50)), max: round(Math.max(...singles)) },
      creationToMinCopiesMs: { p50: round(percentile(toMin, 50)), p99: round(percentile(toMin, 99)), max: round(Math.max(...toMin)) },
      repair: {
        filesLost: lost.length,
        deathToRepairMs: round(repairMs),
        detectionPlusGraceMs: floorMs,
        afterGraceMs: round(repairMs - floorMs),
        transfersStillQueued: moved,
      },
    }
    process.stderr.write(
      `  plain fetch of one file (baseline): ${round(baselineMs)} ms\n` +
        `  one file alone, creation -> 2 copies: p50 ${round(percentile(singles, 50))} ms (catalog stability wait, hash, gossip, plan, transfer)\n` +
        `  creation -> 2 copies: p50 ${round(percentile(toMin, 50))} ms, p99 ${round(percentile(toMin, 99))} ms (${files} files written at once)\n` +
        `  death -> repair of ${lost.length} files: ${round(repairMs)} ms, of which ${floorMs} ms down detection + grace, ${round(repairMs - floorMs)} ms repairing\n`,
    )
    process.stdout.write(`${JSON.stringify(result)}\n`)
  } finally {
    await Promise.all(nodes.map((x) => x.stop().catch(() => {})))
    await Promise.all(nodes.map((x) => rm(x.layout.dataDir, { recursive: true, force: true })))
  }
}

async function writeData(node: MeshsyncNode, rel: string, size: number): Promise<string> {
  const buf = randomBytes(size)
  await mkdir(join(node.layout.dataDir, 'bench'), { recursive: true })
  await writeFile(join(node.layout.dataDir, rel), buf)
  const { createHash } = await import('node:crypto')
  return createHash('sha256').update(buf).digest('hex')
}

async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 30_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`replication bench: timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
