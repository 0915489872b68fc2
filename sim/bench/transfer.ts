import { spawn } from 'node:child_process'
import { link, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { ProcessNode } from '../harness/process-node.js'
import { hashFile } from '../run/disk-scan.js'
import { round } from './stats.js'
import { timedFetch } from './timed-fetch.js'
import { testFile } from './test-file.js'
import { benchArgs } from './args.js'

/**
 * Transfer throughput: one file (default 1 GiB) between node processes on
 * loopback, next to a plain node:net TCP transfer doing the same SHA-256,
 * write and fsync (the unencrypted ceiling), measured in the same run. Then
 * the same file from 3 sources to 1 receiver. Meshsync runs with the bulk
 * lane (transfer.lane auto, the default) and once more with the libp2p
 * stream only (transfer.lane off).
 *
 *   npm run bench -- transfer [--size-mib 1024] [--runs 1]
 */
export async function run(argv: string[]): Promise<void> {
  const { num } = benchArgs(argv)
  const sizeMiB = num('size-mib', 1024)
  const work = await mkdtemp(join(tmpdir(), 'bench-transfer-'))
  try {
    const file = await testFile(sizeMiB)
    const sha = (await readFile(`${file}.sha256`, 'utf8')).trim()
    const size = (await stat(file)).size
    process.stderr.write(`transfer bench: ${sizeMiB} MiB file ${sha.slice(0, 12)}\n`)

    const plain = await plainTcp(file, join(work, 'plain.out'))
    process.stderr.write(`plain TCP: ${round(size / 1e6 / plain.seconds)} MB/s\n`)
    const one = await meshsync(file, sha, size, work, 1)
    process.stderr.write(`meshsync 1 -> 1: ${round(size / 1e6 / one.seconds)} MB/s, receiver peak RSS ${round(one.peakRssMiB)} MiB\n`)
    const streamOnly = await meshsync(file, sha, size, work, 1, 'off')
    process.stderr.write(`meshsync 1 -> 1, libp2p stream only: ${round(size / 1e6 / streamOnly.seconds)} MB/s, receiver peak RSS ${round(streamOnly.peakRssMiB)} MiB\n`)
    const three = await meshsync(file, sha, size, work, 3)
    process.stderr.write(`meshsync 3 -> 1: ${round(size / 1e6 / three.seconds)} MB/s, receiver peak RSS ${round(three.peakRssMiB)} MiB\n`)

    const plainTcpMBps = round(size / 1e6 / plain.seconds)
    const meshsyncMBps = round(size / 1e6 / one.seconds)
    const result = {
      bench: 'transfer',
      sizeMiB,
      plainTcpMBps,
      meshsyncMBps,
      ratio: round(meshsyncMBps / plainTcpMBps, 2),
      receiverPeakRssMiB: round(one.peakRssMiB),
      receiverIdleRssMiB: round(one.idleRssMiB),
      libp2pOnlyMBps: round(size / 1e6 / streamOnly.seconds),
      threeSources: { meshsyncMBps: round(size / 1e6 / three.seconds), ratio: round(size / 1e6 / three.seconds / plainTcpMBps, 2), receiverPeakRssMiB: round(three.peakRssMiB), sources: three.sources },
    }
    process.stdout.write(
      `\n| transfer (${sizeMiB} MiB, loopback, one 2-core host) | MB/s | vs plain TCP | receiver peak RSS |\n|---|---|---|---|\n` +
        `| plain node:net TCP + SHA-256 + write + fsync | ${plainTcpMBps} | 1.00 | - |\n` +
        `| meshsync, 1 source, lane | ${meshsyncMBps} | ${result.ratio} | ${result.receiverPeakRssMiB} MiB (idle ${result.receiverIdleRssMiB}) |\n` +
        `| meshsync, 1 source, libp2p stream only | ${result.libp2pOnlyMBps} | ${round(result.libp2pOnlyMBps / plainTcpMBps, 2)} | ${round(streamOnly.peakRssMiB)} MiB |\n` +
        `| meshsync, 3 sources | ${result.threeSources.meshsyncMBps} | ${result.threeSources.ratio} | ${result.threeSources.receiverPeakRssMiB} MiB |\n\n`,
    )
    process.stdout.write(`${JSON.stringify(result)}\n`)
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}


async function plainTcp(file: string, out: string): Promise<{ seconds: number }> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'plain-tcp.js')
  const recv = spawn(process.execPath, [script, 'recv', out], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: recv.stdout! })
  const it = lines[Symbol.asyncIterator]()
  const { port } = JSON.parse((await it.next()).value as string) as { port: number }
  const send = spawn(process.execPath, [script, 'send', file, String(port)], { stdio: 'inherit' })
  const sent = new Promise((r) => send.once('exit', r))
  const result = JSON.parse((await it.next()).value as string) as { seconds: number }
  await sent
  await rm(out, { force: true })
  return result
}

async function meshsync(
  file: string,
  sha: string,
  _size: number,
  work: string,
  sources: number,
  lane: 'auto' | 'off' = 'auto',
): Promise<{ seconds: number; peakRssMiB: number; idleRssMiB: number; sources: number }> {
  const settings = { 'catalog.stableSeconds': 0, 'gossip.healthIntervalSeconds': 0.5, 'gossip.suspectAfterSeconds': 3, 'gossip.downAfterSeconds': 6, 'disk.minFree': 0, 'transfer.maxSources': sources, 'transfer.lane': lane, 'log.level': 'warn' }
  const nodes: ProcessNode[] = []
  try {
    for (let i = 0; i < sources; i++) {
      const dir = join(work, `src${sources}-${lane}-${i}`)
      await mkdir(dir, { recursive: true })
      await link(file, join(dir, 'big.bin'))
      nodes.push(await ProcessNode.start({ name: `src${i}`, dataDir: dir, bootstrap: nodes[0] != null ? [nodes[0].addresses[0]!] : [], settings, logFile: join(work, `src${i}.log`) }))
    }
    const dst = await ProcessNode.start({ name: 'dst', dataDir: join(work, `dst${sources}-${lane}`), bootstrap: [nodes[0]!.addresses[0]!], settings, logFile: join(work, 'dst.log') })
    nodes.push(dst)
    // every source announced (the catalog hashes the file first) and known to the receiver
    const deadline = Date.now() + 180_000
    for (;;) {
      const files = await dst.get<{ sha256: string; holders: string[] }[]>('/files')
      if ((files.find((f) => f.sha256 === sha)?.holders.length ?? 0) >= sources) break
      if (Date.now() > deadline) throw new Error('sources did not announce the file within 180 s')
      await new Promise((r) => setTimeout(r, 250))
    }
    const idleRssMiB = await dst.rssMiB()
    const { seconds, peakRssMiB } = await timedFetch(dst, sha)
    // byte-identical?
    const got = await hashFile(join(work, `dst${sources}-${lane}`, 'big.bin'))
    if (got !== sha) throw new Error(`landed file hashes to ${got}, expected ${sha}`)
    return { seconds, peakRssMiB, idleRssMiB, sources }
  } finally {
    await Promise.all(nodes.map((n) => n.stop()))
  }
}
