import WebTorrent, { type ChunkStoreConstructor, type Torrent } from 'webtorrent'
import { errorMessage } from '../util/errors.js'
import type { Logger } from '../util/log.js'
import type { RateLimiter } from '../transfer/rate-limiter.js'
import { normalizeHost } from './peers.js'
import { sharedThrottleGroups } from './shared-throttle.js'
import { isInfoHash } from './torrent-meta.js'

export interface BtClientInit {
  /** TCP port (all interfaces; webtorrent has no bind address); 0 picks one. */
  port: number
  /** Trackers of the operator's own: every torrent announces there, and nowhere else. */
  trackers: string[]
  /**
   * The node's upload and download buckets (the ones libp2p transfers take from): every wire's bytes pass
   * through them, so both transports together keep to the node's cap.
   */
  limits: { upload: RateLimiter; download: RateLimiter }
  /** May a connection from this host exchange data? Checked on every wire, both directions. */
  allowed: (host: string) => boolean
  log: Logger
  onUpload?: (bytes: number) => void
}

/**
 * The node's one WebTorrent client, with everything that would reach
 * outside the cluster off: no DHT, no LSD, no PEX, no UPnP or NAT-PMP, no web
 * seeds, no WebRTC (the webrtc-polyfill stand-in), TCP only. Trackers only
 * when the operator names some. Torrents are always private and always use
 * a store meshsync gives (never webtorrent's file store, which writes paths
 * from the metadata). Torrents are only ever added by a validated infoHash
 * or by .torrent bytes meshsync built.
 */
export class BtClient {
  readonly #wt: WebTorrent
  readonly #init: BtClientInit

  private constructor(wt: WebTorrent, init: BtClientInit) {
    this.#wt = wt
    this.#init = init
  }

  /** Resolves once the TCP port listens; rejects if it cannot (e.g. the port is taken). */
  static async start(init: BtClientInit): Promise<BtClient> {
    const wt = new WebTorrent({
      torrentPort: init.port,
      dht: false,
      lsd: false,
      utPex: false,
      natUpnp: false,
      natPmp: false,
      webSeeds: false,
      utp: false,
      tracker: init.trackers.length > 0 ? {} : false,
      // webtorrent's own throttle groups stay off: they are replaced below by the node's buckets
      uploadLimit: -1,
      downloadLimit: -1,
    })
    wt.throttleGroups = sharedThrottleGroups(init.limits)
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error | string): void => reject(typeof err === 'string' ? new Error(err) : err)
      wt.once('error', onError)
      wt.once('listening', () => {
        wt.off('error', onError)
        resolve()
      })
    })
    const client = new BtClient(wt, init)
    // an error no torrent listener took (unhandled, it would crash the process)
    wt.on('error', (err) => init.log.warn({ err: errorMessage(err) }, 'bittorrent client error'))
    if (init.onUpload != null) wt.on('upload', init.onUpload)
    return client
  }

  get port(): number {
    return this.#wt.torrentPort
  }

  get trackers(): string[] {
    return this.#init.trackers
  }

  get torrents(): Torrent[] {
    return this.#wt.torrents
  }

  /**
   * Serves a file meshsync holds: `torrent` is the .torrent it built, `store`
   * reads the file in place. Nothing is hashed here (the metadata was built
   * from these bytes; the store checks each piece on first read).
   */
  seed(torrent: Uint8Array, store: ChunkStoreConstructor): Torrent {
    const t = this.#wt.add(torrent, { store, skipVerify: true, storeCacheSlots: 0, private: true, announce: this.#init.trackers })
    this.#guard(t)
    return t
  }

  /** Starts fetching the torrent `infoHash` into `store` (metadata comes from peers). */
  fetch(infoHash: string, store: ChunkStoreConstructor): Torrent {
    if (!isInfoHash(infoHash)) throw new TypeError('fetch takes a 40-hex-digit infoHash only')
    // 'sequential' (the default): 'rarest' measured 3 to 4 times slower on loopback (50-60 against 190-200 MB/s, 512 MiB)
    const t = this.#wt.add(infoHash, { store, storeCacheSlots: 0, private: true, announce: this.#init.trackers, strategy: 'sequential' })
    this.#guard(t)
    return t
  }

  /** Removes a torrent; its store is closed, never deleted. */
  async remove(t: Torrent): Promise<void> {
    if (t.destroyed) return
    await new Promise<void>((resolve) => {
      this.#wt.remove(t, { destroyStore: false }, () => resolve()).catch(() => resolve())
    })
  }

  async stop(): Promise<void> {
    if (this.#wt.destroyed) return
    await new Promise<void>((resolve) => this.#wt.destroy(() => resolve()))
  }

  /** Every torrent: connections from hosts outside the allow-list are dropped at the handshake. */
  #guard(t: Torrent): void {
    t.on('wire', (wire) => {
      const host = wire.remoteAddress != null ? normalizeHost(wire.remoteAddress) : undefined
      if (host == null || !this.#init.allowed(host)) {
        this.#init.log.debug({ host, infoHash: t.infoHash }, 'bittorrent connection from a host outside the cluster refused')
        wire.destroy()
      }
    })
  }
}
