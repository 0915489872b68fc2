import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateFile } from '../data/generate.js'
import { ProcNode, type SimNode } from '../harness/sim-node.js'
import { hashFile } from '../run/disk-scan.js'
import { round } from './stats.js'
import { benchArgs } from './args.js'
import { localApiHeaders } from '../../src/api/key.js'

/**
 * Fan-out: one node holds a file (default 256 MiB), 8 nodes want it, every
 * node's upload is capped (bandwidth.upload, default 10 MB/s). The time until
 * all 8 hold it, next to one transfer of the same file at the same cap
 * measured in the same run. A swarm (receivers serving each other the chunks
 * they have) keeps the ratio near 1; a star through the source alone would
 * take 8x. Goal: <= 1.5x.
 *
 *   npm run bench -- fanout [--size-mib 256] [--receivers 8] [--cap 10MB/s]
 */
export async function run(argv: string[]): Promise<void> {
  const { str: arg, num } = benchArgs(argv)
  const sizeMiB = num('size-mib', 256)
  const receivers = num('receivers', 8)
  const cap = arg('cap', '10MB/s')
  const work = await mkdtemp(join(tmpdir(), 'bench-fanout-'))
  const nodes: SimNode[] = []
  const settings: Record<string, unknown> = {
    'bandwidth.upload': cap,
    // nothing moves unless asked: the bench times explicit fetches only
    policies: { manual: { minCopies: 1, maxCopies: 1 } },
    'log.level': 'warn',
  }
  const mk = (name: string) =>
    new ProcNode({ name, role: 'worker', provider: 'local', ephemeral: false, tags: [], dataDir: join(work, name) }, { logFile: join(work, `${name}.log`) })
  try {
    const source = mk('source')
    nodes.push(source)
    const rel = 'models/fanout.bin'
    await mkdir(source.dataDir, { recursive: true })
    process.stderr.write(`fanout bench: writing a ${sizeMiB} MiB file\n`)
    await generateFile('blob', join(source.dataDir, rel), sizeMiB * 2 ** 20, 1, 'fanout')
    const sha = await hashFile(join(source.dataDir, rel))
    await source.start([], settings)
    await waitFor(`the source catalogs the file`, async () => (await source.snapshot()).files.some((f) => f.sha256 === sha && f.local), 300_000)
    const boot = [source.addresses[0]!]

    // one transfer at the cap
    const single = mk('single')
    nodes.push(single)
    await single.start(boot, settings)
    await waitFor('single sees the file', async () => (await single.snapshot()).files.some((f) => f.sha256 === sha), 60_000)
    process.stderr.write(`fanout bench: one transfer at ${cap}...\n`)
    const singleMs = await timeFetch([single], sha)
    await single.stop()
    process.stderr.write(`fanout bench: one receiver took ${round(singleMs / 1000)} s (${round((sizeMiB * 2 ** 20) / 1e6 / (singleMs / 1000))} MB/s)\n`)

    // fan-out to N
    const many: SimNode[] = []
    for (let i = 0; i < receivers; i++) many.push(mk(`r${i}`))
    nodes.push(...many)
    await Promise.all(many.map((n) => n.start(boot, settings)))
    await waitFor('every receiver sees the file', async () => (await Promise.all(many.map((n) => n.snapshot()))).every((s) => s.files.some((f) => f.sha256 === sha)), 120_000)
    process.stderr.write(`fanout bench: ${receivers} receivers at once...\n`)
    const sourceBefore = (await source.snapshot()).bytesOut
    const fanoutMs = await timeFetch(many, sha)
    // what the source sent during the fan-out (not the single transfer before it)
    const sourceOut = (await source.snapshot()).bytesOut - sourceBefore
    const ratio = round(fanoutMs / singleMs, 2)
    const result = {
      bench: 'fanout',
      sizeMiB,
      receivers,
      uploadCap: cap,
      singleSeconds: round(singleMs / 1000),
      fanoutSeconds: round(fanoutMs / 1000),
      ratio,
      goal: 1.5,
      met: ratio <= 1.5,
      sourceUploadedMiB: round(sourceOut / 2 ** 20),
    }
    process.stdout.write(
      `\n| fan-out (${sizeMiB} MiB, upload cap ${cap} on every node, ${receivers} receivers) | seconds | vs one transfer |\n|---|---|---|\n` +
        `| one receiver | ${result.singleSeconds} | 1.00 |\n| ${receivers} receivers, all done | ${result.fanoutSeconds} | ${ratio} (goal <= 1.5) |\n\n` +
        `source uploaded ${result.sourceUploadedMiB} MiB during the fan-out, ${round(sourceOut / (sizeMiB * 2 ** 20), 2)} copies of the file (the rest moved between receivers)\n`,
    )
    process.stdout.write(`${JSON.stringify(result)}\n`)
  } finally {
    await Promise.all(nodes.map((n) => n.stop().catch(() => {})))
    await rm(work, { recursive: true, force: true })
  }
}

/** Asks every node to fetch `sha` at once; ms until the last one has it. */
async function timeFetch(nodes: SimNode[], sha: string): Promise<number> {
  const began = performance.now()
  await Promise.all(
    nodes.map(async (n) => {
      const api = (n as ProcNode).proc!.api
      const res = await fetch(`http://${api}/fetch`, { method: 'POST', headers: localApiHeaders(api), body: JSON.stringify({ sha256: sha }) })
      if (!res.ok) throw new Error(`${n.name}: /fetch ${res.status} ${await res.text()}`)
    }),
  )
  await waitFor(
    'every receiver holds the file',
    async () => (await Promise.all(nodes.map((n) => n.snapshot()))).every((s) => s.files.some((f) => f.sha256 === sha && f.local)),
    1_800_000,
    100,
  )
  return performance.now() - began
}

async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs: number, everyMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await fn().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`fanout bench: timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
