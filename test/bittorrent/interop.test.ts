import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../sim/harness/process-node.js'
import { createTorrentMeta, magnetURI, torrentFile } from '../../src/bittorrent/torrent-meta.js'
import type { FileJson } from '../../src/node/read-models.js'
import type { MeshsyncNode } from '../../src/node.js'
import type { MeshsyncEvent } from '../../src/state/event-log.js'
import { api, startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { aria2c, BT_TEST, CLI_JS, HAS_ARIA2C, MiB, randomFile, sha256File, startSeeder, startTracker, type CliNode } from './support.js'

const SIZE = 96 * MiB

if (!HAS_ARIA2C) {
  process.stderr.write('SKIPPED test/bittorrent/interop.test.ts: aria2c is not installed (apt-get install -y aria2); the BitTorrent interop tests did not run\n')
}

/**
 * meshsync speaks plain BitTorrent: a node started with `--bt-tracker URL`
 * announces its torrents to that tracker (a bittorrent-tracker server on
 * loopback), aria2c downloads a file from it given only the magnet link,
 * and a meshsync node fetches a file only aria2c seeds.
 */
describe.skipIf(!HAS_ARIA2C)('BitTorrent interop with aria2c through a tracker on loopback', () => {
  let tracker: Awaited<ReturnType<typeof startTracker>>
  let work: string
  let seeder: CliNode | undefined
  let receiver: MeshsyncNode | undefined
  let file: string
  let sha: string
  let infoHash: string
  let seederPeerId: string
  let seederAddr: string

  beforeAll(async () => {
    if (!existsSync(CLI_JS)) throw new Error(`${CLI_JS} is missing: run npm run build first`)
    tracker = await startTracker()
    work = await mkdtemp(join(tmpdir(), 'bt-interop-'))
    const dataDir = join(work, 'seeder')
    await mkdir(dataDir)
    file = join(dataDir, 'weights.bin')
    sha = await randomFile(file, SIZE)
    seeder = await startSeeder(dataDir, tracker.url, { 'gossip.healthIntervalSeconds': 0.3, 'gossip.suspectAfterSeconds': 1.2, 'gossip.downAfterSeconds': 2.5 }, join(work, 'seeder.log'))
    const f = await waitFor('the seeder announces the file with its infoHash', async () => (await seeder!.get<FileJson[]>('/files')).find((x) => x.sha256 === sha && x.infoHash != null), 60_000)
    infoHash = f.infoHash!
    const status = await seeder.get<{ peerId: string; addresses: string[]; bittorrentPort: number }>('/status')
    seederPeerId = status.peerId
    seederAddr = status.addresses[0]!
    expect(status.bittorrentPort).toBeGreaterThan(0)
    // --bt-tracker: the seeder announced there, from its BitTorrent port
    await tracker.announced(infoHash, status.bittorrentPort)
  })
  afterAll(async () => {
    await seeder?.stop()
    await stopAll([receiver])
    await tracker?.close()
    if (work != null) await rm(work, { recursive: true, force: true })
  })

  it('aria2c downloads a file from a meshsync node given only its magnet link with the tracker, byte-identical', async () => {
    const out = join(work, 'aria2-out')
    await mkdir(out)
    const magnet = magnetURI(infoHash, { trackers: [tracker.url] })
    const r = aria2c(['--dir', out, '--index-out=1=got.bin', '--seed-time=0', `--listen-port=${await freePort()}`, magnet], join(work, 'aria2c-get.log'))
    const { code, output } = await r.done
    expect(code, output).toBe(0)
    expect(await sha256File(join(out, 'got.bin'))).toBe(sha)
  })

  it('a meshsync node fetches a file that only aria2c seeds', async () => {
    // the receiver learns the file (and its infoHash) from the meshsync holder, which then goes away
    receiver = await startNode({ name: 'bt-recv', bootstrap: [`${seederAddr}`], settings: { ...BT_TEST, 'bittorrent.trackers': [tracker.url], 'debug.libp2pFetch': false } })
    await waitFor('the receiver knows the file and its torrent', () => receiver!.view.entryFor(sha)?.infoHash === infoHash, 30_000)
    await seeder!.stop()
    await waitFor('the meshsync holder is down', () => receiver!.view.get(seederPeerId)?.state === 'down', 30_000)

    // aria2c seeds the same bytes: the torrent meshsync's rules give (same infoHash, no exchange needed)
    const meta = await createTorrentMeta(file, { sha256: sha })
    expect(meta.infoHash).toBe(infoHash)
    const torrentPath = join(work, 'weights.torrent')
    await writeFile(torrentPath, torrentFile(meta, [tracker.url]))
    const port = await freePort()
    const seed = aria2c(
      ['--dir', join(work, 'seeder'), '--index-out=1=weights.bin', '--bt-seed-unverified=true', '--check-integrity=false', '--seed-ratio=0.0', `--listen-port=${port}`, torrentPath],
      join(work, 'aria2c-seed.log'),
    )
    try {
      await tracker.announced(infoHash, port)
      const landed = await receiver.fetch(sha, { signal: AbortSignal.timeout(120_000) })
      expect(await sha256File(join(receiver.layout.dataDir, landed.path))).toBe(sha)
      const done = (await api<MeshsyncEvent[]>(receiver, '/events?type=sync_completed')).find((e) => e.sha256 === sha)
      expect(done?.data).toMatchObject({ via: 'bittorrent', checksumVerified: true })
      // the only source was aria2c (not a mesh peer, so named by its address)
      expect(done?.data?.sources).toEqual([`127.0.0.1:${port}`])
    } finally {
      seed.child.kill('SIGTERM')
      await seed.done
    }
  })
})
