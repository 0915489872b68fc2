import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { createWriteStream, existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../sim/harness/process-node.js'
import { magnetURI } from '../../src/bittorrent/torrent-meta.js'
import type { FileJson } from '../../src/node/read-models.js'
import { waitFor } from '../helpers/cluster.js'
import { CLI_JS, MiB, randomFile, sha256File, startSeeder, startTracker, type CliNode } from './support.js'

const HAS_TRANSMISSION = spawnSync('transmission-cli', ['--version'], { stdio: 'ignore' }).status === 0
if (!HAS_TRANSMISSION) {
  process.stderr.write('SKIPPED test/bittorrent/transmission.test.ts: transmission-cli is not installed (apt-get install -y transmission-cli)\n')
}

const SIZE = 24 * MiB + 123

/**
 * transmission-cli 3.00 as a second BitTorrent client. It never dials a peer
 * at 127.0.0.0/8 or ::1, whatever the tracker says (libtransmission's
 * isMartianAddr), so on loopback it finds "0 peers" from the tracker; that is
 * its rule, not a refusal of ours (docs/research/webtorrent.md). It does
 * accept incoming connections from loopback, so here the tracker tells the
 * meshsync seeder to re-announce every second, the seeder learns
 * transmission's address and connects to it, and transmission takes the
 * private torrent's metadata (ut_metadata) and every piece from meshsync,
 * given only the magnet link.
 */
describe.skipIf(!HAS_TRANSMISSION)('BitTorrent interop with transmission-cli through a tracker on loopback', () => {
  let tracker: Awaited<ReturnType<typeof startTracker>>
  let work: string
  let seeder: CliNode | undefined
  let transmission: ChildProcess | undefined
  let sha: string
  let infoHash: string

  beforeAll(async () => {
    if (!existsSync(CLI_JS)) throw new Error(`${CLI_JS} is missing: run npm run build first`)
    tracker = await startTracker({ intervalMs: 1000 })
    work = await mkdtemp(join(tmpdir(), 'bt-transmission-'))
    const dataDir = join(work, 'seeder')
    await mkdir(dataDir)
    sha = await randomFile(join(dataDir, 'weights.bin'), SIZE)
    seeder = await startSeeder(dataDir, tracker.url, { 'bittorrent.preferredSize': 1_000_000, 'bittorrent.requiredSize': 2_000_000 }, join(work, 'seeder.log'))
    const f = await waitFor('the seeder announces the file with its infoHash', async () => (await seeder!.get<FileJson[]>('/files')).find((x) => x.sha256 === sha && x.infoHash != null), 60_000)
    infoHash = f.infoHash!
    const status = await seeder.get<{ bittorrentPort: number }>('/status')
    await tracker.announced(infoHash, status.bittorrentPort)
  })
  afterAll(async () => {
    transmission?.kill('SIGKILL')
    await seeder?.stop()
    await tracker?.close()
    if (work != null) await rm(work, { recursive: true, force: true })
  })

  it('transmission-cli downloads a file from a meshsync node given only its magnet link, byte-identical', async () => {
    const config = join(work, 'transmission')
    const out = join(work, 'transmission-out')
    await mkdir(config)
    await mkdir(out)
    // no DHT, local discovery, PEX or uTP: the tracker is the only way the two meet
    await writeFile(join(config, 'settings.json'), JSON.stringify({ 'dht-enabled': false, 'lpd-enabled': false, 'pex-enabled': false, 'utp-enabled': false, 'port-forwarding-enabled': false }))
    const port = await freePort()
    transmission = spawn('transmission-cli', ['-g', config, '-w', out, '-p', String(port), '-M', magnetURI(infoHash, { trackers: [tracker.url] })], { stdio: ['ignore', 'pipe', 'pipe'] })
    const log = createWriteStream(join(work, 'transmission.log'))
    transmission.stdout?.pipe(log)
    transmission.stderr?.pipe(log)
    await tracker.announced(infoHash, port)
    // a meshsync torrent is named after the file's SHA-256; transmission writes NAME.part until it is complete
    const got = join(out, sha)
    await waitFor('transmission has the whole file', async () => existsSync(got) && (await stat(got)).size === SIZE, 120_000, 500)
    expect(await sha256File(got)).toBe(sha)
  })
})
