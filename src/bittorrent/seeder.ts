import { join } from 'node:path'
import type { Torrent } from 'webtorrent'
import type { LocalFile, LocalManifest } from '../catalog/local-manifest.js'
import type { Clock } from '../util/clock.js'
import { errorMessage } from '../util/errors.js'
import type { Logger } from '../util/log.js'
import { Loop } from '../util/loop.js'
import type { BtClient } from './client.js'
import { seedStore } from './store.js'
import type { TorrentCache } from './torrent-cache.js'
import { torrentFile, type CreateOptions } from './torrent-meta.js'

export interface SeederInit {
  client: BtClient
  cache: TorrentCache
  manifest: LocalManifest
  dataDir: string
  snapshotDir: string
  /** Files at or above this size are seeded. */
  minSize: number
  /** Check each piece's SHA-1 on its first read (transfer.verifyOnSend). */
  verify: boolean
  transform?: CreateOptions['transform']
  clock: Clock
  log: Logger
}

interface Seed {
  infoHash: string
  path: string
  torrent: Torrent
}

/**
 * Keeps one seeding torrent per large content this node holds, in step with
 * the local manifest: new files are seeded, removed ones stop, and a file
 * announced without an infoHash (cataloged before BitTorrent was on) gets its
 * torrent built and its entry announced again with the infoHash.
 */
export class Seeder {
  readonly #init: SeederInit
  readonly #seeds = new Map<string, Seed>()
  /** Content whose file stopped matching its torrent: not seeded again until its catalog entry changes. */
  readonly #broken = new Set<string>()
  readonly #loop: Loop
  #off: (() => void) | undefined

  constructor(init: SeederInit) {
    this.#init = init
    this.#loop = new Loop({ name: 'bittorrent-seed', intervalMs: 30_000, clock: init.clock, log: init.log }, (signal) => this.#sync(signal))
  }

  start(): void {
    this.#off = this.#init.manifest.onChange(() => this.#loop.poke())
    this.#loop.start()
  }

  async stop(): Promise<void> {
    this.#off?.()
    await this.#loop.stop()
  }

  /** Content this node seeds now: sha256 -> infoHash. */
  seeding(): Map<string, string> {
    return new Map([...this.#seeds].map(([sha, s]) => [sha, s.infoHash]))
  }

  torrent(sha256: string): Torrent | undefined {
    return this.#seeds.get(sha256)?.torrent
  }

  /** Runs a sync now (tests). */
  async syncNow(): Promise<void> {
    await this.#loop.runOnce()
  }

  #servePath(f: LocalFile): string {
    return f.snapshot != null ? join(this.#init.snapshotDir, f.snapshot) : join(this.#init.dataDir, f.path)
  }

  async #sync(signal: AbortSignal): Promise<void> {
    const { manifest, minSize, cache, client, log } = this.#init
    const wanted = new Map<string, LocalFile>()
    for (const f of manifest.all()) if (f.size >= minSize && !wanted.has(f.sha256)) wanted.set(f.sha256, f)
    for (const sha of [...this.#broken]) if (!wanted.has(sha)) this.#broken.delete(sha)
    for (const [sha, s] of [...this.#seeds]) {
      const f = wanted.get(sha)
      if (f == null || f.infoHash !== s.infoHash || s.torrent.destroyed || this.#servePath(f) !== s.path) {
        this.#seeds.delete(sha)
        await client.remove(s.torrent)
      }
    }
    for (const f of wanted.values()) {
      if (signal.aborted) return
      if (this.#seeds.has(f.sha256) || this.#broken.has(f.sha256)) continue
      const path = this.#servePath(f)
      try {
        const meta = await cache.ensure(path, f.sha256, f.size, { signal })
        const current = manifest.get(f.path)
        if (current?.sha256 !== f.sha256) continue // changed meanwhile; the next sync sees it
        if (current.infoHash !== meta.infoHash) {
          // announced without our infoHash (or with another): announce ours; the change pokes the next sync
          manifest.put({ ...current, infoHash: meta.infoHash }, this.#init.clock.now())
          continue
        }
        const torrent = client.seed(
          torrentFile(meta),
          seedStore({
            path,
            size: f.size,
            pieces: this.#init.verify ? meta.pieces : undefined,
            transform: this.#init.transform,
            onMismatch: (index) => {
              log.warn({ path: f.path, piece: index }, 'a seeded file no longer matches its torrent; it stops being seeded')
              void this.#drop(f.sha256)
            },
          }),
        )
        torrent.on('error', (err) => {
          log.warn({ path: f.path, err: errorMessage(err) }, 'seeding failed')
          void this.#drop(f.sha256)
        })
        this.#seeds.set(f.sha256, { infoHash: meta.infoHash, path, torrent })
        log.debug({ path: f.path, infoHash: meta.infoHash }, 'seeding')
      } catch (err) {
        if (signal.aborted) return
        log.warn({ path: f.path, err: errorMessage(err) }, 'could not build or seed the torrent of a file')
      }
    }
  }

  async #drop(sha256: string): Promise<void> {
    const s = this.#seeds.get(sha256)
    if (s == null) return
    this.#seeds.delete(sha256)
    this.#broken.add(sha256)
    await this.#init.client.remove(s.torrent)
  }
}
