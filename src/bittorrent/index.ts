import { join } from 'node:path'
import type { ManifestEntry } from '../../protocols/manifest/index.js'
import type { Metrics } from '../api/metrics.js'
import type { FileDigest, Sha1Pieces } from '../catalog/hasher.js'
import type { LocalManifest } from '../catalog/local-manifest.js'
import type { ClusterView } from '../cluster/view.js'
import type { ResolvedConfig } from '../config/load.js'
import type { EventLog } from '../state/event-log.js'
import { breakerOptions, CircuitBreakers } from '../transfer/circuit-breaker.js'
import type { RateLimiter } from '../transfer/rate-limiter.js'
import type { Clock } from '../util/clock.js'
import { errorMessage, isAbort } from '../util/errors.js'
import type { StagingFsync } from '../util/fs.js'
import type { Logger } from '../util/log.js'
import { BtClient } from './client.js'
import { BittorrentFallback } from './fallback.js'
import { BT_TRANSPORT, hostsOf } from './peers.js'
import { Seeder } from './seeder.js'
import { corruptEveryPiece, TorrentCache } from './torrent-cache.js'
import { magnetURI, pieceLengthFor } from './torrent-meta.js'

export { BT_TRANSPORT } from './peers.js'
export { transportOrder } from './policy.js'

export interface BittorrentInit {
  config: ResolvedConfig
  /** meshsync's state dir (torrents are kept in `torrents/` there). */
  stateDir: string
  dataDir: string
  snapshotDir: string
  manifest: LocalManifest
  view: ClusterView
  events: EventLog
  metrics: Metrics
  /** The node's upload and download buckets, shared with libp2p transfers. */
  limits: { upload: RateLimiter; download: RateLimiter }
  /** fsync of staging files (tests make it fail); default fsync(2). */
  stagingFsync?: StagingFsync
  clock: Clock
  log: Logger
}

/**
 * The BitTorrent side of a node: one client, the torrents of the large files
 * it holds (seeded), the transfer manager's fallback, and the infoHash hook
 * the catalog and landing call for every file they announce.
 */
export class Bittorrent {
  readonly client: BtClient
  readonly cache: TorrentCache
  readonly seeder: Seeder
  readonly fallback: BittorrentFallback
  readonly #minSize: number
  readonly #log: Logger

  constructor(client: BtClient, cache: TorrentCache, seeder: Seeder, fallback: BittorrentFallback, minSize: number, log: Logger) {
    this.client = client
    this.cache = cache
    this.seeder = seeder
    this.fallback = fallback
    this.#minSize = minSize
    this.#log = log
  }

  /** The TCP port peers dial (health gossip carries it). */
  get port(): number {
    return this.client.port
  }

  /**
   * The infoHash of the file at `path` whose content is `sha256` (its torrent
   * built once and cached), or undefined below bittorrent.preferredSize.
   * `pieces`: its SHA-1 pieces from a read that also checked its SHA-256 (the
   * catalog's), so the file is not read again. Never throws but for an abort:
   * a file without a torrent still moves over libp2p.
   */
  async infoHashFor(
    path: string,
    sha256: string,
    size: number,
    signal: AbortSignal,
    verified = false,
    pieces?: Sha1Pieces,
  ): Promise<string | undefined> {
    if (size < this.#minSize) return undefined
    try {
      return (await this.cache.ensure(path, sha256, size, { signal, verified, pieces })).infoHash
    } catch (err) {
      if (isAbort(err) || signal.aborted) throw err
      this.#log.warn({ path, err: errorMessage(err) }, 'no torrent for a file; it moves over libp2p only')
      return undefined
    }
  }

  /** The catalog's hook: which files get a torrent, and their infoHash from the catalog's own read. */
  forCatalog(): { pieceLength(size: number): number | undefined; infoHash(path: string, digest: FileDigest, signal: AbortSignal): Promise<string | undefined> } {
    return {
      pieceLength: (size) => (size >= this.#minSize ? pieceLengthFor(size) : undefined),
      infoHash: (path, d, signal) => this.infoHashFor(path, d.sha256, d.size, signal, false, d.sha1Pieces),
    }
  }

  /**
   * The landing hook: this node's own infoHash of staged bytes whose SHA-256 landing has just checked, from
   * the SHA-1 pieces the download hashed in the same pass when it has them (else the file is read for them).
   */
  landingInfoHash(stagingPath: string, entry: ManifestEntry, signal: AbortSignal, pieces?: Sha1Pieces): Promise<string | undefined> {
    return this.infoHashFor(stagingPath, entry.sha256, entry.size, signal, true, pieces)
  }

  /** A magnet link for a file this node seeds, with the configured trackers. */
  magnetURI(sha256: string): string | undefined {
    const infoHash = this.seeder.seeding().get(sha256)
    return infoHash != null ? magnetURI(infoHash, { name: sha256, trackers: this.client.trackers }) : undefined
  }

  async stop(): Promise<void> {
    await this.seeder.stop()
    await this.client.stop()
  }
}

/**
 * Starts the node's BitTorrent client and seeding. Undefined when
 * bittorrent.enabled is false, or when the client cannot listen (the node
 * then runs on libp2p alone, and says so in its log).
 */
export async function startBittorrent(init: BittorrentInit): Promise<Bittorrent | undefined> {
  const cfg = init.config
  const bt = cfg.bittorrent
  if (!bt.enabled) return undefined
  const trackers = [...new Set(bt.trackers)]
  const allowed = meshHosts(init.view)
  let client: BtClient
  try {
    client = await BtClient.start({
      port: bt.port,
      trackers,
      limits: init.limits,
      // with trackers of their own, the operator lets any client that finds us there take part
      allowed: trackers.length > 0 ? () => true : allowed,
      log: init.log,
      onUpload: (n) => init.metrics.transferBytes.inc({ direction: 'out', transport: BT_TRANSPORT }, n),
    })
  } catch (err) {
    init.log.warn({ port: bt.port, err: errorMessage(err) }, 'BitTorrent client could not start; files move over libp2p only')
    return undefined
  }
  const transform = cfg.debug.corruptTorrents ? corruptEveryPiece : undefined
  const cache = new TorrentCache(join(init.stateDir, 'torrents'), transform)
  // torrents of content this node no longer holds are dropped (before any transfer runs)
  await cache.open((sha) => init.manifest.has(sha))
  const seeder = new Seeder({
    client,
    cache,
    manifest: init.manifest,
    dataDir: init.dataDir,
    snapshotDir: init.snapshotDir,
    minSize: bt.preferredSize,
    verify: cfg.transfer.verifyOnSend,
    transform,
    clock: init.clock,
    log: init.log,
  })
  const fallback = new BittorrentFallback({
    client,
    cache,
    view: init.view,
    policy: { enabled: true, preferredSize: bt.preferredSize, requiredSize: bt.requiredSize, preferForRequired: bt.preferForRequired },
    stallMs: cfg.transfer.stallSeconds * 1000,
    timeoutMs: cfg.transfer.timeoutSeconds * 1000,
    breakers: new CircuitBreakers(breakerOptions(cfg), init.clock),
    stagingFsync: init.stagingFsync,
    events: init.events,
    metrics: init.metrics,
    clock: init.clock,
    log: init.log,
  })
  seeder.start()
  init.log.info({ port: client.port, trackers }, 'BitTorrent client listening')
  return new Bittorrent(client, cache, seeder, fallback, bt.preferredSize, init.log)
}

/** Hosts of the cluster (from every peer's health addresses), re-read at most every 2 s. */
function meshHosts(view: ClusterView): (host: string) => boolean {
  let at = 0
  let hosts = new Set<string>()
  return (host) => {
    const now = Date.now()
    if (now - at > 2000 || !hosts.has(host)) {
      hosts = new Set(view.peers().flatMap((p) => hostsOf(p.health)))
      at = now
    }
    return hosts.has(host)
  }
}

export { refusingBlobClient } from './debug.js'
