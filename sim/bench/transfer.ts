import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
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
import { writeSwarmKey } from '../../bootstrap/swarm-key.js'
import { XSalsa20Stream } from '../../src/mesh/xsalsa20-stream.js'

/**
 * Transfer throughput: one file (default 1 GiB) between node processes on
 * loopback, next to a plain node:net TCP transfer doing the same SHA-256,
 * write and fsync (the unencrypted ceiling), measured in the same run. Then
 * the same file from 3 sources to 1 receiver. Meshsync runs with the bulk
 * lane (transfer.lane auto, the default) and once more with the libp2p
 * stream only (transfer.lane off).
 *
 *   npm run bench -- transfer [--size-mib 1024] [--swarm-key off|on|both] [--runs 3]
 *
 * `--swarm-key on` runs the nodes in a private network (a swarm key made for
 * the run); `both` measures 1 -> 1 with and without it, alternating, `--runs`
 * times each, and prints min / median / max of both.
 */
export async function run(argv: string[]): Promise<void> {
  const { num, str } = benchArgs(argv)
  const sizeMiB = num('size-mib', 1024)
  const swarm = str('swarm-key', 'off')
  if (!['off', 'on', 'both'].includes(swarm)) throw new Error(`--swarm-key: expected off, on or both, got ${JSON.stringify(swarm)}`)
  const work = await mkdtemp(join(tmpdir(), 'bench-transfer-'))
  try {
    const file = await testFile(sizeMiB)
    const sha = (await readFile(`${file}.sha256`, 'utf8')).trim()
    const size = (await stat(file)).size
    process.stderr.write(`transfer bench: ${sizeMiB} MiB file ${sha.slice(0, 12)}, swarm key ${swarm}\n`)
    const keyFile = join(work, 'swarm.key')
    await writeSwarmKey(keyFile)
    if (swarm === 'both') {
      await withAndWithout(file, sha, size, work, keyFile, sizeMiB, num('runs', 3))
      return
    }
    const extra = swarm === 'on' ? { swarmKey: keyFile } : {}

    const plain = await plainTcp(file, join(work, 'plain.out'))
    process.stderr.write(`plain TCP: ${round(size / 1e6 / plain.seconds)} MB/s\n`)
    const one = await meshsync(file, sha, size, work, 1, extra)
    process.stderr.write(`meshsync 1 -> 1: ${round(size / 1e6 / one.seconds)} MB/s, receiver peak RSS ${round(one.peakRssMiB)} MiB\n`)
    const streamOnly = await meshsync(file, sha, size, work, 1, { ...extra, 'transfer.lane': 'off' })
    process.stderr.write(`meshsync 1 -> 1, libp2p stream only: ${round(size / 1e6 / streamOnly.seconds)} MB/s, receiver peak RSS ${round(streamOnly.peakRssMiB)} MiB\n`)
    const three = await meshsync(file, sha, size, work, 3, extra)
    process.stderr.write(`meshsync 3 -> 1: ${round(size / 1e6 / three.seconds)} MB/s, receiver peak RSS ${round(three.peakRssMiB)} MiB\n`)

    const plainTcpMBps = round(size / 1e6 / plain.seconds)
    const meshsyncMBps = round(size / 1e6 / one.seconds)
    const result = {
      bench: 'transfer',
      sizeMiB,
      swarmKey: swarm === 'on',
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

/**
 * The cipher alone, in this process: MB/s of CPU time for 256 MiB in 64 KiB pieces, ours (@noble/ciphers)
 * and @libp2p/pnet's WebAssembly one (one instance and 64 KiB calls, where its memory never grows).
 */
function cipherAlone(): { nobleMBps: number; wasmMBps: number } {
  const key = randomBytes(32)
  const nonce = randomBytes(24)
  const piece = randomBytes(64 * 1024)
  const n = 4096
  const wasm = createRequire(import.meta.url)('xsalsa20') as (nonce: Uint8Array, key: Uint8Array) => { update(b: Uint8Array): Uint8Array }
  const time = (update: (b: Uint8Array) => Uint8Array): number => {
    const t = process.cpuUsage()
    for (let i = 0; i < n; i++) update(piece)
    const u = process.cpuUsage(t)
    return (n * piece.length) / 1e6 / ((u.user + u.system) / 1e6)
  }
  const ours = new XSalsa20Stream(key, nonce)
  const theirs = wasm(nonce, key)
  return { nobleMBps: round(time((b) => ours.update(b))), wasmMBps: round(time((b) => theirs.update(b))) }
}

/** CPU seconds (user + system) a process has used so far (Linux; clock ticks of 10 ms). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // fields after the command name (which is in parentheses and may hold spaces): utime is the 12th, stime the 13th
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}

/** 1 -> 1 with and without a swarm key, alternating (so both see the same load), `runs` times each. */
async function withAndWithout(file: string, sha: string, size: number, work: string, keyFile: string, sizeMiB: number, runs: number): Promise<void> {
  const plain: number[] = []
  const open: number[] = []
  const keyed: number[] = []
  // CPU seconds per GB moved, sender + receiver: far less at the mercy of other load than MB/s
  const openCpu: number[] = []
  const keyedCpu: number[] = []
  const gb = size / 1e9
  for (let r = 0; r < runs; r++) {
    plain.push(size / 1e6 / (await plainTcp(file, join(work, 'plain.out'))).seconds)
    const o = await meshsync(file, sha, size, work, 1, {})
    const k = await meshsync(file, sha, size, work, 1, { swarmKey: keyFile })
    open.push(size / 1e6 / o.seconds)
    keyed.push(size / 1e6 / k.seconds)
    openCpu.push(o.cpuSeconds / gb)
    keyedCpu.push(k.cpuSeconds / gb)
    process.stderr.write(
      `run ${r + 1}/${runs}: plain TCP ${round(plain[r]!)} MB/s; no swarm key ${round(open[r]!)} MB/s, ${round(openCpu[r]!)} CPU s/GB; swarm key ${round(keyed[r]!)} MB/s, ${round(keyedCpu[r]!)} CPU s/GB\n`,
    )
  }
  const spread = (xs: number[]): string => {
    const s = [...xs].sort((a, b) => a - b)
    return `${round(s[0]!)} / ${round(s[Math.floor(s.length / 2)]!)} / ${round(s[s.length - 1]!)}`
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const cipher = cipherAlone()
  process.stdout.write(
    `\n| transfer, 1 -> 1 (${sizeMiB} MiB, loopback, ${runs} runs) | MB/s min / median / max |\n|---|---|\n` +
      `| plain node:net TCP + SHA-256 + write + fsync | ${spread(plain)} |\n` +
      `| meshsync, no swarm key | ${spread(open)} (CPU s/GB, both ends: ${spread(openCpu)}) |\n` +
      `| meshsync, swarm key (pnet, XSalsa20) | ${spread(keyed)} (CPU s/GB, both ends: ${spread(keyedCpu)}) |\n` +
      `| XSalsa20 alone, one core's CPU time: @noble/ciphers (ours) / xsalsa20 WASM (@libp2p/pnet) | ${cipher.nobleMBps} / ${cipher.wasmMBps} |\n\n`,
  )
  const result = {
    bench: 'transfer',
    mode: 'swarm-key both',
    sizeMiB,
    runs,
    plainTcpMBps: plain.map((x) => round(x)),
    noSwarmKeyMBps: open.map((x) => round(x)),
    swarmKeyMBps: keyed.map((x) => round(x)),
    noSwarmKeyCpuSecondsPerGB: openCpu.map((x) => round(x)),
    swarmKeyCpuSecondsPerGB: keyedCpu.map((x) => round(x)),
    medianRatio: round(median(keyed) / median(open), 2),
    cipherAloneMBps: cipher,
  }
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

async function meshsync(
  file: string,
  sha: string,
  _size: number,
  work: string,
  sources: number,
  extra: Record<string, unknown>,
): Promise<{ seconds: number; peakRssMiB: number; idleRssMiB: number; sources: number; cpuSeconds: number }> {
  const lane = String(extra['transfer.lane'] ?? 'auto')
  await rm(join(work, `dst${sources}-${lane}`), { recursive: true, force: true })
  for (let i = 0; i < sources; i++) await rm(join(work, `src${sources}-${lane}-${i}`), { recursive: true, force: true })
  const settings = { ...extra, 'catalog.stableSeconds': 0, 'gossip.healthIntervalSeconds': 0.5, 'gossip.suspectAfterSeconds': 3, 'gossip.downAfterSeconds': 6, 'disk.minFree': 0, 'transfer.maxSources': sources, 'transfer.lane': lane, 'log.level': 'warn' }
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
    const cpu = async (): Promise<number> => (await Promise.all(nodes.map((n) => cpuSeconds(n.pid)))).reduce((a, b) => a + b, 0)
    const cpuBefore = await cpu()
    const { seconds, peakRssMiB } = await timedFetch(dst, sha)
    const cpuSecondsUsed = (await cpu()) - cpuBefore
    // byte-identical?
    const got = await hashFile(join(work, `dst${sources}-${lane}`, 'big.bin'))
    if (got !== sha) throw new Error(`landed file hashes to ${got}, expected ${sha}`)
    return { seconds, peakRssMiB, idleRssMiB, sources, cpuSeconds: cpuSecondsUsed }
  } finally {
    await Promise.all(nodes.map((n) => n.stop()))
  }
}
