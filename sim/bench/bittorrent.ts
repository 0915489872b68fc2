import { spawn, spawnSync } from 'node:child_process'
import { link, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Server } from 'bittorrent-tracker'
import { createTorrentMeta, magnetURI, torrentFile } from '../../src/bittorrent/torrent-meta.js'
import { freePort, ProcessNode } from '../harness/process-node.js'
import { hashFile } from '../run/disk-scan.js'
import { ARIA2C_BASE } from './aria2c.js'
import { round } from './stats.js'
import { timedFetch } from './timed-fetch.js'
import { testFile } from './test-file.js'
import { benchArgs } from './args.js'

/**
 * BitTorrent throughput on loopback, one run: a 512 MiB file (default) from
 * one meshsync seeder (its own process) to
 *   1. a meshsync node fetching over BitTorrent (BitTorrent first, no libp2p),
 *   2. a meshsync node fetching over libp2p (the default path),
 *   3. aria2c downloading the same torrent from the same seeder (through a
 *      bittorrent-tracker on loopback the seeder announces to; given the
 *      .torrent, and given only the magnet link).
 * Each figure is wall time from the request to a verified file on disk.
 *
 *   npm run bench -- bittorrent [--size-mib 512]
 */
export async function run(argv: string[]): Promise<void> {
  const { num } = benchArgs(argv)
  const sizeMiB = num('size-mib', 512)
  const work = await mkdtemp(join(tmpdir(), 'bench-bittorrent-'))
  const tracker = new Server({ http: true, udp: false, ws: false, stats: false })
  tracker.on('error', () => {})
  tracker.on('warning', () => {})
  const announced = new Set<string>()
  tracker.on('start', (_addr, p) => announced.add(`${p.info_hash}:${p.port}`))
  const nodes: ProcessNode[] = []
  try {
    const file = await testFile(sizeMiB)
    const sha = (await readFile(`${file}.sha256`, 'utf8')).trim()
    const size = (await stat(file)).size
    await new Promise<void>((r) => tracker.listen(0, '127.0.0.1', () => r()))
    const addr = tracker.http!.address()
    const trackerUrl = `http://127.0.0.1:${typeof addr === 'object' && addr != null ? addr.port : 0}/announce`
    process.stderr.write(`bittorrent bench: ${sizeMiB} MiB file ${sha.slice(0, 12)}, tracker ${trackerUrl}\n`)

    const common = { 'catalog.stableSeconds': 0, 'gossip.healthIntervalSeconds': 0.5, 'gossip.suspectAfterSeconds': 3, 'gossip.downAfterSeconds': 6, 'disk.minFree': 0, 'log.level': 'warn', 'policies.solo.minCopies': 1, 'policies.solo.maxCopies': 1 }
    const seedDir = join(work, 'seeder')
    await mkdir(seedDir)
    await link(file, join(seedDir, 'big.bin'))
    const seeder = await ProcessNode.start({ name: 'seeder', dataDir: seedDir, settings: { ...common, 'bittorrent.trackers': [trackerUrl] }, logFile: join(work, 'seeder.log') })
    nodes.push(seeder)
    const infoHash = await until('the seeder announces the file with its infoHash', 300_000, async () => (await seeder.get<{ sha256: string; infoHash?: string }[]>('/files')).find((f) => f.sha256 === sha)?.infoHash)
    const btPort = (await seeder.get<{ bittorrentPort: number }>('/status')).bittorrentPort
    await until('the seeder announces to the tracker', 60_000, () => announced.has(`${infoHash}:${btPort}`))

    // 1. meshsync over BitTorrent: BitTorrent first for this size, libp2p off
    const bt = await meshsyncFetch(seeder, sha, size, join(work, 'recv-bt'), { ...common, 'bittorrent.requiredSize': 50_000_000, 'bittorrent.preferForRequired': true, 'debug.libp2pFetch': false }, nodes)
    if (bt.via !== 'bittorrent') throw new Error(`the BitTorrent receiver got the file over ${bt.via}`)
    process.stderr.write(`meshsync over BitTorrent: ${round(size / 1e6 / bt.seconds)} MB/s\n`)
    // 2. meshsync over libp2p: the default policy (libp2p first)
    const lp = await meshsyncFetch(seeder, sha, size, join(work, 'recv-libp2p'), common, nodes)
    if (lp.via !== 'libp2p') throw new Error(`the libp2p receiver got the file over ${lp.via}`)
    process.stderr.write(`meshsync over libp2p: ${round(size / 1e6 / lp.seconds)} MB/s\n`)

    // 3. aria2c, same torrent, same seeder (found through the tracker)
    let aria: { torrent: number; magnet: number } | undefined
    if (spawnSync('aria2c', ['--version'], { stdio: 'ignore' }).status !== 0) {
      process.stderr.write('aria2c is not installed (apt-get install -y aria2): its figures are null\n')
    } else {
      const meta = await createTorrentMeta(file, { sha256: sha })
      if (meta.infoHash !== infoHash) throw new Error(`infoHash ${meta.infoHash} here, ${infoHash} at the seeder`)
      const tpath = join(work, 'big.torrent')
      await writeFile(tpath, torrentFile(meta, [trackerUrl]))
      const torrent = await aria2cFetch(tpath, join(work, 'aria-t'), sha, work)
      process.stderr.write(`aria2c (.torrent): ${round(size / 1e6 / torrent)} MB/s\n`)
      const magnet = await aria2cFetch(magnetURI(infoHash, { trackers: [trackerUrl] }), join(work, 'aria-m'), sha, work)
      process.stderr.write(`aria2c (magnet): ${round(size / 1e6 / magnet)} MB/s\n`)
      aria = { torrent, magnet }
    }

    const mbps = (s: number | undefined) => (s != null ? round(size / 1e6 / s) : null)
    const result = {
      bench: 'bittorrent',
      sizeMiB,
      meshsyncBittorrentMBps: mbps(bt.seconds),
      meshsyncLibp2pMBps: mbps(lp.seconds),
      aria2cMBps: mbps(aria?.torrent),
      aria2cMagnetMBps: mbps(aria?.magnet),
      receiverPeakRssMiB: { bittorrent: round(bt.peakRssMiB), libp2p: round(lp.peakRssMiB) },
    }
    process.stdout.write(
      `\n| ${sizeMiB} MiB, one seeder, loopback, one 2-core host | MB/s (request to verified file) |\n|---|---|\n` +
        `| meshsync over BitTorrent | ${result.meshsyncBittorrentMBps} (receiver peak RSS ${result.receiverPeakRssMiB.bittorrent} MiB) |\n` +
        `| meshsync over libp2p | ${result.meshsyncLibp2pMBps} (receiver peak RSS ${result.receiverPeakRssMiB.libp2p} MiB) |\n` +
        `| aria2c, .torrent + tracker | ${result.aria2cMBps ?? 'n/a'} |\n` +
        `| aria2c, magnet link + tracker | ${result.aria2cMagnetMBps ?? 'n/a'} |\n\n`,
    )
    process.stdout.write(`${JSON.stringify(result)}\n`)
  } finally {
    await Promise.all(nodes.map((n) => n.stop()))
    await new Promise<void>((r) => tracker.close(() => r()))
    await rm(work, { recursive: true, force: true })
  }
}

async function until<T>(what: string, ms: number, fn: () => T | Promise<T>): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      const v = await fn()
      if (v) return v as NonNullable<T>
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** A receiver process fetches the file; seconds from POST /fetch to landed. The receiver is stopped after. */
async function meshsyncFetch(
  seeder: ProcessNode,
  sha: string,
  size: number,
  dir: string,
  settings: Record<string, unknown>,
  nodes: ProcessNode[],
): Promise<{ seconds: number; via: string; peakRssMiB: number }> {
  const name = dir.split('/').pop()!
  const dst = await ProcessNode.start({ name, dataDir: dir, bootstrap: [seeder.addresses[0]!], settings, logFile: `${dir}.log` })
  nodes.push(dst)
  try {
    await until('the receiver knows the seeder, its BitTorrent port and the file', 120_000, async () => {
      const peers = await dst.get<{ peerId: string; health?: { btPort?: number } }[]>('/peers')
      const files = await dst.get<{ sha256: string; infoHash?: string; holders: string[] }[]>('/files')
      const f = files.find((x) => x.sha256 === sha)
      return (peers.find((p) => p.peerId === seeder.peerId)?.health?.btPort ?? 0) > 0 && f?.infoHash != null && f.holders.includes(seeder.peerId)
    })
    const { seconds, peakRssMiB } = await timedFetch(dst, sha)
    const events = await dst.get<{ sha256?: string; data?: { via?: string } }[]>('/events?type=sync_completed')
    const via = events.find((e) => e.sha256 === sha)?.data?.via ?? 'unknown'
    const got = await hashFile(join(dir, 'big.bin'))
    if (got !== sha || (await stat(join(dir, 'big.bin'))).size !== size) throw new Error(`landed file hashes to ${got}, expected ${sha}`)
    return { seconds, via, peakRssMiB }
  } finally {
    await dst.stop()
    nodes.splice(nodes.indexOf(dst), 1)
    await rm(dir, { recursive: true, force: true })
  }
}

/** aria2c downloads `what` (a .torrent path or a magnet link); seconds to a complete file, checked. */
async function aria2cFetch(what: string, dir: string, sha: string, work: string): Promise<number> {
  await mkdir(dir, { recursive: true })
  const port = await freePort()
  const args = [
    `--dir=${dir}`,
    '--index-out=1=big.bin',
    '--seed-time=0',
    `--listen-port=${port}`,
    ...ARIA2C_BASE,
    what,
  ]
  const started = performance.now()
  const child = spawn('aria2c', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)))
  child.stderr.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)))
  const code = await new Promise<number | null>((r) => child.once('exit', r))
  const seconds = (performance.now() - started) / 1000
  await writeFile(join(work, `aria2c-${dir.split('/').pop()}.log`), out)
  if (code !== 0) throw new Error(`aria2c exited with ${code}: ${out.slice(-500)}`)
  const got = await hashFile(join(dir, 'big.bin'))
  if (got !== sha) throw new Error(`aria2c's file hashes to ${got}, expected ${sha}`)
  await rm(dir, { recursive: true, force: true })
  return seconds
}

