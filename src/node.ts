import { watch, type FSWatcher } from 'node:fs'
import { rm } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import type { GossipSub } from '@libp2p/gossipsub'
import { loadOrCreateIdentity } from '../bootstrap/identity.js'
import { readSwarmKey } from '../bootstrap/swarm-key.js'
import { manifestSync, type ManifestSync } from '../protocols/manifest/index.js'
import type { HealthReport } from '../protocols/health/index.js'
import { Metrics } from './api/metrics.js'
import type { ApiServer } from './api/server.js'
import { startApi } from './api/start-api.js'
import { apiTls, type ApiTls } from './api/tls.js'
import { LocalManifest, type LocalFile } from './catalog/local-manifest.js'
import { Scanner } from './catalog/scanner.js'
import { ClusterView } from './cluster/view.js'
import type { ResolvedConfig } from './config/load.js'
import { policyFor } from './config/policies.js'
import { Gossip } from './gossip/gossip.js'
import { AddressBook } from './mesh/address-book.js'
import { PeerGater } from './mesh/gater.js'
import { connectionFacts, createMesh, type Mesh } from './mesh/libp2p.js'
import { Reconnect } from './mesh/reconnect.js'
import { multiaddr } from '@multiformats/multiaddr'
import { DiskMeter, diskLevel } from './node/disk.js'
import { DataDirLock } from './node/data-dir-lock.js'
import { ensureLayout, layoutOf, STATE_DIR_NAME, type Layout } from './node/layout.js'
import { ReadModels } from './node/read-models.js'
import { BUILD_VERSION } from './node/version.js'
import { checkRequiredProtocols } from './node/compat.js'
import { openStateDb, type Db } from './state/db.js'
import { EventLog } from './state/event-log.js'
import { systemClock, type Clock } from './util/clock.js'
import { createLogger, type Logger } from './util/log.js'
import { Loop, loopScope } from './util/loop.js'
import { validateFile } from './validate/index.js'
import type { Verdict } from './validate/types.js'
import type { Kind } from './config/schema.js'
import { Quarantine } from './quarantine/quarantine.js'
import { releaseChecked, type ReleaseResult, WithheldFiles } from './quarantine/withheld.js'
import { blobClient, blobServer, type BlobClient } from '../protocols/blob/index.js'
import type { LaneServer } from '../protocols/blob/lane/index.js'
import type { ManifestEntry } from '../protocols/manifest/index.js'
import { breakerOptions, CircuitBreakers } from './transfer/circuit-breaker.js'
import { Limits } from './transfer/limits.js'
import { TransferManager } from './transfer/manager.js'
import { Provider } from './transfer/provider.js'
import { TransferStore } from './transfer/transfer-store.js'
import { NotFoundError } from './util/errors.js'
import type { DiskLevel } from '../protocols/health/index.js'
import { attestService, type AttestService } from '../protocols/attest/index.js'
import { refusingBlobClient, startBittorrent, type Bittorrent } from './bittorrent/index.js'
import { attestHolder } from './replication/attest-holder.js'
import { Cleanup } from './replication/cleanup.js'
import { NodeSinks } from './sinks/wiring.js'
import { DeletionGuard, type LeaseStore } from './replication/deletion-guard.js'
import { evacuate, type EvacuationResult } from './replication/evacuation.js'
import { ReplicationPlanner } from './replication/planner.js'
import type { LandingInit } from './transfer/landing.js'
import { failingFsync, type StagingFsync } from './util/fs.js'
import { Scrubber } from './catalog/scrub.js'
import { explainStartError } from './node/start-errors.js'
import type { MergeService } from './merge/service.js'
import { mergeServiceFor } from './merge/wire.js'
import { laneUse, startLane } from './transfer/lane-policy.js'

export interface NodeOptions {
  config: ResolvedConfig
  clock?: Clock
  log?: Logger
}

/**
 * One meshsync node: the composition root. It builds the parts, wires them
 * through narrow interfaces, and starts and stops them in order. Nothing
 * else reaches across parts.
 */
export class MeshsyncNode {
  readonly config: ResolvedConfig
  readonly clock: Clock
  readonly log: Logger
  readonly layout: Layout
  readonly startedMs: number
  readonly metrics = new Metrics()
  // set in start()
  privateKey!: PrivateKey
  peerId!: string
  db!: Db
  events!: EventLog
  manifest!: LocalManifest
  view!: ClusterView
  mesh!: Mesh
  gater!: PeerGater
  gossip!: Gossip
  scanner!: Scanner
  disk!: DiskMeter
  readModels!: ReadModels
  quarantine!: Quarantine
  /** Released files that still fail validation: kept here, never announced (see WithheldFiles). */
  withheld!: WithheldFiles
  transfers!: TransferManager
  provider!: Provider
  breakers!: CircuitBreakers
  scrubber!: Scrubber
  limits!: Limits
  guard!: DeletionGuard
  planner!: ReplicationPlanner
  cleanup!: Cleanup
  /** SQLite consolidation (merges.<name>). */
  merges!: MergeService
  /** Backup sinks: the backup loop and the verified sink copies (src/sinks). */
  sinks!: NodeSinks
  /** BitTorrent for large files; undefined when off or when its port could not be opened. */
  bittorrent: Bittorrent | undefined
  /** The blob bulk TLS lane (transfer.lane); undefined when off. */
  lane: LaneServer | undefined
  #api: ApiServer | undefined
  #apiAddress: { host: string; port: number } | undefined
  #unregisterApi: (() => void) | undefined
  /** The API key (DATA_DIR/.meshsync/api.key), set once the API listens. */
  apiKey = ''
  /** The API's TLS certificate; undefined for plain HTTP. */
  apiTls: ApiTls | undefined
  #loops: { start(): void; stop(): Promise<void> }[] = []
  #lock: DataDirLock | undefined
  #watcher: FSWatcher | undefined
  /** debug.failStagingFsyncs: staging fsyncs that fail (tests); undefined on a real node. */
  #stagingFsync: StagingFsync | undefined
  #scanLoop!: Loop
  #diskLevel: DiskLevel = 'ok'
  #evacuating = false
  #evacuateDeadlineMs = 0
  #started = false

  constructor(opts: NodeOptions) {
    this.config = opts.config
    this.clock = opts.clock ?? systemClock
    this.log = opts.log ?? createLogger({ level: opts.config.log.level, name: opts.config.node.name, format: opts.config.log.format })
    this.layout = layoutOf(opts.config.dataDir)
    this.startedMs = this.clock.now()
  }

  get apiAddress(): string | undefined {
    return this.#apiAddress != null ? `${this.#apiAddress.host}:${this.#apiAddress.port}` : undefined
  }

  /** Multiaddrs ending in /p2p/<peerId>. */
  get addresses(): string[] {
    return this.mesh.getMultiaddrs().map(String)
  }

  get diskLevel(): DiskLevel {
    return this.#diskLevel
  }

  /** Every Loop this node made (they add themselves, see loopScope), for /health/cluster. */
  readonly loops: Loop[] = []

  /**
   * Starts every part. When one cannot start (an address in use, a data dir
   * that is a file...), whatever had started is stopped again before the
   * error is thrown, so a failed start leaves nothing running.
   */
  async start(): Promise<void> {
    try {
      await loopScope.run(this.loops, () => this.#start())
    } catch (err) {
      this.log.debug({ err: (err as Error).stack ?? String(err) }, 'start failed; stopping what had started')
      await this.#undoStart()
      throw explainStartError(err, this.config)
    }
  }

  async #start(): Promise<void> {
    const cfg = this.config
    checkRequiredProtocols(cfg.cluster.requireProtocols)
    await ensureLayout(this.layout)
    // one node per data dir: a second one would share the state database and the peer ID
    this.#lock = DataDirLock.acquire(this.layout.stateDir, this.layout.dataDir)
    // refuse a beyond-loopback API without TLS before anything else starts
    this.apiTls = await apiTls(cfg.api, this.layout.stateDir)
    const identity = await loadOrCreateIdentity(this.layout.identity)
    this.privateKey = identity.privateKey
    this.peerId = peerIdFromPrivateKey(identity.privateKey).toString()
    if (identity.created) this.log.info({ peerId: this.peerId, file: this.layout.identity }, 'new identity created')

    this.db = openStateDb(this.layout.db)
    const epoch = this.#nextBootEpoch()
    this.events = new EventLog(this.db, this.clock)
    this.manifest = new LocalManifest(this.db, this.peerId)
    this.view = new ClusterView(this.db, this.clock, this.events, this.peerId)
    this.disk = new DiskMeter(this.layout.dataDir, cfg.disk.quota, () => this.#bytesKept())
    await this.disk.read()
    this.readModels = new ReadModels(this)
    this.quarantine = new Quarantine({ dir: this.layout.quarantine, dataDir: this.layout.dataDir, db: this.db, clock: this.clock, events: this.events })
    this.withheld = new WithheldFiles({ dataDir: this.layout.dataDir, manifest: this.manifest, events: this.events, log: this.log })

    this.guard = new DeletionGuard(this.peerId, deletionRules(cfg), this.clock, leaseStore(this.db))

    this.gater = new PeerGater(cfg.allowPeers)
    const psk = cfg.swarmKey != null ? await readSwarmKey(cfg.swarmKey) : undefined
    this.lane = await startLane(this)
    this.mesh = await createMesh(
      {
        privateKey: this.privateKey,
        listen: cfg.listen,
        announce: cfg.announce,
        bootstrap: cfg.bootstrap,
        psk,
        onConnectionError: (err, remoteAddr) => {
          this.metrics.connectionsFailed.inc()
          this.log.warn({ remoteAddr, err: err.message }, 'connection closed: its data path failed')
        },
        failPnetConnections: cfg.debug.failPnetConnections,
        gater: this.gater,
        protocolPrefix: cfg.mesh.protocolPrefix,
        lan: cfg.mesh.lan,
        localCluster: cfg.mesh.localCluster,
        maxConnections: Math.max(cfg.mesh.targetPeers * 2, 64),
      },
      {
        manifestSync: manifestSync({
          source: this.manifest,
          onInvalid: (peer, err) => this.events.emit('invalid_message', { peer: peer.toString(), topic: 'manifest-sync', reason: err.message }),
        }),
        blobServer: blobServer({
          provider: { open: (sha, ctx) => this.provider.open(sha, ctx) },
          onInvalid: (peer, err) => this.events.emit('invalid_message', { peer, topic: 'blob', reason: err.message }),
          lane: { offer: (peer, sha, handle, signal, onChunk) => this.lane?.offer(peer, sha, handle, signal, onChunk) },
        }),
        blobClient: blobClient({ lane: laneUse(this), now: () => this.clock.now() }),
        attest: attestService({ holder: attestHolder(this.layout.dataDir, this.manifest, this.guard) }),
      },
    )
    this.#stagingFsync = cfg.debug.failStagingFsyncs > 0 ? failingFsync(cfg.debug.failStagingFsyncs) : undefined
    // one upload and one download bucket for the node, taken from by libp2p transfers and BitTorrent wires alike
    this.limits = new Limits(cfg, this.clock, (peer) => this.view.get(peer)?.health?.provider)
    this.bittorrent = await startBittorrent({
      config: cfg,
      stateDir: this.layout.stateDir,
      dataDir: this.layout.dataDir,
      snapshotDir: this.layout.snapshots,
      manifest: this.manifest,
      view: this.view,
      events: this.events,
      metrics: this.metrics,
      limits: this.limits,
      stagingFsync: this.#stagingFsync,
      clock: this.clock,
      log: this.log,
    })
    this.#wireTransfers()
    this.#wireReplication()

    const addressBook = new AddressBook(this.mesh, this.log)
    this.gossip = new Gossip({
      pubsub: this.mesh.services.pubsub as unknown as GossipSub,
      manifestSync: this.mesh.services.manifestSync as ManifestSync,
      manifest: this.manifest,
      view: this.view,
      events: this.events,
      metrics: this.metrics,
      clock: this.clock,
      log: this.log,
      maxDeltaEntries: cfg.gossip.maxDeltaEntries,
      health: () => this.#health(),
      healthIntervalMs: cfg.gossip.healthIntervalSeconds * 1000,
      healthSeqBase: epoch * 2 ** 32,
      onPeerHealth: (peer, h) => addressBook.learn(peer, h.addrs),
    })

    this.scanner = new Scanner({
      dataDir: this.layout.dataDir,
      stateDirName: STATE_DIR_NAME,
      snapshotDir: this.layout.snapshots,
      manifest: this.manifest,
      clock: this.clock,
      log: this.log,
      exclude: cfg.catalog.exclude,
      stableMs: cfg.catalog.stableSeconds * 1000,
      sqliteMaxUnstableMs: cfg.catalog.sqliteMaxUnstableSeconds * 1000,
      validate: cfg.catalog.validateLocal ? (path, kind, sha256, signal) => this.#validateLocal(path, kind, sha256, signal) : undefined,
      torrent: this.bittorrent?.forCatalog(),
      replicaOf: (rel, sha256) => {
        const e = this.transfers.wantedEntry(sha256)
        return e?.path === rel ? e : undefined
      },
      onInvalid: async (rel, abs, kind, digest, reason) => {
        // released by an operator, so not quarantined again; but receivers would reject it: not announced either
        if (this.quarantine.isReleased(digest.sha256)) return this.withheld.hold(rel, digest.sha256, kind, reason)
        await this.quarantine.add(abs, { path: rel, sha256: digest.sha256, kind, reason, sourcePeer: this.peerId, foundBy: 'source' })
      },
    })

    await this.mesh.start()
    this.gossip.start()
    await this.transfers.start()
    this.planner.start()
    this.cleanup.start()

    const ephemeral = cfg.node.ephemeral || cfg.replication.strategy === 'ephemeral'
    const scanMs = (ephemeral ? cfg.catalog.ephemeralScanIntervalSeconds : cfg.catalog.scanIntervalSeconds) * 1000
    this.#scanLoop = new Loop({ name: 'catalog-scan', intervalMs: scanMs, clock: this.clock, log: this.log }, async (signal) => {
      await this.scanner.scan(signal)
      if (this.scanner.nextStableAt != null) this.#scanLoop.pokeIn(Math.max(50, this.scanner.nextStableAt - this.clock.now() + 10))
    })
    const liveness = new Loop({ name: 'liveness', intervalMs: 500, clock: this.clock, log: this.log, jitter: 0 }, () => {
      const changed = this.view.tickLiveness({ suspectAfterMs: cfg.gossip.suspectAfterSeconds * 1000, downAfterMs: cfg.gossip.downAfterSeconds * 1000 })
      if (changed.length > 0) this.planner.poke()
    })
    const diskLoop = new Loop({ name: 'disk', intervalMs: 2000, clock: this.clock, log: this.log }, () => this.#checkDisk())
    const reconnect = new Reconnect({
      connected: () => this.mesh.getPeers().length,
      dial: async (addr, signal) => {
        await this.mesh.dial(multiaddr(addr), { signal })
      },
      bootstrap: cfg.bootstrap.filter((a) => !a.endsWith(`/p2p/${this.peerId}`)),
      known: () => this.view.peers().flatMap((p) => (p.peerId !== this.peerId && p.health != null ? p.health.addrs.map((a) => `${a}/p2p/${p.peerId}`) : [])),
      lost: () => {
        const connected = new Set(this.mesh.getPeers().map(String))
        return this.view
          .peers()
          .filter((p) => p.peerId !== this.peerId && p.state !== 'up' && p.health != null && !connected.has(p.peerId) && !this.gater.isBlocked(p.peerId))
          .map((p) => ({ peerId: p.peerId, addrs: p.health!.addrs.map((a) => `${a}/p2p/${p.peerId}`) }))
      },
      minPeers: 3,
      targetPeers: cfg.mesh.targetPeers,
      connections: () => connectionFacts(this.mesh),
      close: async (peerId, signal) => {
        await this.mesh.hangUp(peerIdFromString(peerId), { signal })
      },
      intervalMs: Math.max(1000, 2 * cfg.gossip.healthIntervalSeconds * 1000),
      clock: this.clock,
      log: this.log,
    })
    this.scrubber = new Scrubber({
      manifest: this.manifest,
      dataDir: this.layout.dataDir,
      snapshotDir: this.layout.snapshots,
      rate: cfg.catalog.scrubRate,
      onRotten: (f, abs, actual) => this.#rotten(f, abs, actual),
      clock: this.clock,
      log: this.log,
    })
    this.merges = mergeServiceFor(this)
    this.#loops = [this.#scanLoop, liveness, diskLoop, reconnect, this.scrubber, this.merges, this.sinks.backup]
    for (const l of this.#loops) l.start()
    this.#watch()

    const api = await startApi(this, this.apiTls)
    this.#api = api.server
    this.#apiAddress = api.address
    this.apiKey = api.key
    this.#unregisterApi = api.unregister

    this.#started = true
    this.events.emit('node_started', { peer: this.peerId, name: cfg.node.name, version: BUILD_VERSION, addresses: this.addresses })
    this.log.info({ peerId: this.peerId, name: cfg.node.name, addresses: this.addresses, api: this.apiAddress }, 'meshsync node started')
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    this.events.emit('node_stopping', { peer: this.peerId })
    this.#watcher?.close()
    this.#unregisterApi?.()
    await this.#api?.close()
    await Promise.all(this.#loops.map((l) => l.stop()))
    await this.cleanup.stop()
    await this.planner.stop()
    await this.transfers.stop()
    await this.bittorrent?.stop()
    await this.lane?.close()
    await this.gossip.stop()
    await this.mesh.stop()
    this.db.close()
    this.#lock?.release()
    this.log.info({ peerId: this.peerId }, 'meshsync node stopped')
  }

  /** Stops the parts a failed start() had started, in the order stop() does; each may be missing. */
  async #undoStart(): Promise<void> {
    const quietly = async (what: string, fn: (() => Promise<unknown> | unknown) | undefined): Promise<void> => {
      try {
        await fn?.()
      } catch (err) {
        this.log.debug({ part: what, err: (err as Error).message }, 'stopping after a failed start')
      }
    }
    this.#watcher?.close()
    await quietly('api registry', () => this.#unregisterApi?.())
    await quietly('api', () => this.#api?.close())
    await quietly('loops', () => Promise.all(this.#loops.map((l) => l.stop())))
    await quietly('cleanup', () => this.cleanup?.stop())
    await quietly('planner', () => this.planner?.stop())
    await quietly('transfers', () => this.transfers?.stop())
    await quietly('bittorrent', () => this.bittorrent?.stop())
    await quietly('lane', () => this.lane?.close())
    await quietly('gossip', () => this.gossip?.stop())
    await quietly('mesh', () => this.mesh?.stop())
    await quietly('db', () => this.db?.close())
    this.#lock?.release()
  }

  /** Scans the data dir now (tests, and `meshsync rescan`). */
  async rescan(): Promise<void> {
    await this.#scanLoop.runOnce()
  }

  #watch(): void {
    try {
      this.#watcher = watch(this.layout.dataDir, { recursive: true, persistent: false }, (_event, name) => {
        if (name == null || String(name).startsWith(STATE_DIR_NAME)) return
        this.#scanLoop.pokeIn(200)
      })
      this.#watcher.on('error', (err) => this.log.debug({ err: err.message }, 'fs.watch failed; periodic scans continue'))
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'fs.watch unavailable; periodic scans only')
    }
  }

  /**
   * The scrub found a file whose bytes changed under an unchanged stat. A
   * snapshot of a live database is ours: it goes and the scanner takes a new
   * one. A data file goes to quarantine (kept, never deleted) and leaves the
   * manifest, so the cluster counts one copy less and repairs it; placement
   * may bring a good copy back here.
   */
  async #rotten(f: LocalFile, abs: string, actualSha256: string): Promise<void> {
    if (f.snapshot != null) {
      this.manifest.remove(f.path)
      await rm(abs, { force: true })
      this.#scanLoop.poke()
      return
    }
    await this.quarantine.add(abs, {
      path: f.path,
      sha256: actualSha256,
      expectedSha256: f.sha256,
      kind: f.kind,
      reason: 'scrub: the bytes no longer hash to the catalog SHA-256 though size and mtime did not change (silent corruption)',
      sourcePeer: this.peerId,
      foundBy: 'source',
    })
    this.manifest.remove(f.path)
  }

  /**
   * Kind validation of a local file. Released content is validated too:
   * receivers check every download, so an invalid file is withheld (onInvalid
   * keeps it in place) rather than announced for all of them to reject.
   */
  /** What every landing here needs (transfers and restores from a sink): the data dir, catalog, quarantine and checks. */
  #landingBase(): LandingInit {
    return {
      dataDir: this.layout.dataDir,
      manifest: this.manifest,
      quarantine: this.quarantine,
      clock: this.clock,
      validate: (path, kind, sha, signal) => this.#validateLocal(path, kind, sha, signal),
    }
  }

  async #validateLocal(path: string, kind: Kind, _sha256: string, signal: AbortSignal): Promise<Verdict> {
    return validateFile(path, kind, { depth: 'deep', signal })
  }

  /** A local file announced without a kind check (validateLocal off, or released content): why receivers will reject it. */
  async #revalidateForEvacuation(sha256: string, signal?: AbortSignal): Promise<string | undefined> {
    const f = this.manifest.bySha(sha256)[0]
    if (f == null || (this.config.catalog.validateLocal && !this.quarantine.isReleased(sha256))) return undefined
    const abs = f.snapshot != null ? join(this.layout.snapshots, f.snapshot) : join(this.layout.dataDir, f.path)
    const verdict = await validateFile(abs, f.kind, { depth: 'deep', signal })
    return verdict.ok ? undefined : verdict.reason
  }

  /** `quarantine release`: the file goes back; whether it will be announced depends on it passing validation now. */
  async releaseFromQuarantine(id: string): Promise<ReleaseResult> {
    const r = await releaseChecked(this.quarantine, this.layout.dataDir, id)
    this.#scanLoop?.poke()
    return r
  }

  /** Transfers: limits, breakers, the serving side and the download manager. */
  #wireTransfers(): void {
    const cfg = this.config
    const t = cfg.transfer
    this.breakers = new CircuitBreakers(breakerOptions(cfg), this.clock)
    this.provider = new Provider({
      dataDir: this.layout.dataDir,
      snapshotDir: this.layout.snapshots,
      manifest: this.manifest,
      download: (sha) => this.transfers.download(sha),
      upload: this.limits.upload,
      perPeer: (peer) => this.limits.peer(peer),
      maxServing: t.maxServing,
      verifyOnSend: t.verifyOnSend,
      corruptRate: cfg.debug.corruptServeRate,
      metrics: this.metrics,
      log: this.log,
      onMismatch: (file, reason) => {
        this.log.warn({ path: file.path, reason }, 'a served file no longer matches its catalog entry; rescanning and scrubbing it')
        this.#scanLoop?.poke()
        this.scrubber?.soon(file.path)
      },
    })
    this.transfers = new TransferManager({
      self: this.peerId,
      stagingDir: this.layout.staging,
      store: new TransferStore(this.db),
      manifest: this.manifest,
      view: this.view,
      client: () => (cfg.debug.libp2pFetch ? (this.mesh.services.blobClient as BlobClient) : refusingBlobClient),
      breakers: this.breakers,
      download: this.limits.download,
      perPeer: (peer) => this.limits.peer(peer),
      landing: {
        ...this.#landingBase(),
        infoHash: this.bittorrent != null ? (path, entry, signal, pieces) => this.bittorrent!.landingInfoHash(path, entry, signal, pieces) : undefined,
        pieceLength: this.bittorrent?.forCatalog().pieceLength,
      },
      fallback: this.bittorrent?.fallback,
      events: this.events,
      metrics: this.metrics,
      clock: this.clock,
      log: this.log,
      config: t,
      mayReceive: (priority) => priority === 'critical' || this.#diskLevel !== 'full',
      space: () => ({ free: this.disk.last.free, keep: cfg.disk.minFree }),
      stagingFsync: this.#stagingFsync,
    })
  }

  /** Replication: the planner (pulls), the cleanup (guarded deletes) and what wakes them. */
  #wireReplication(): void {
    const cfg = this.config
    const r = cfg.replication
    this.planner = new ReplicationPlanner({
      self: () => ({
        peerId: this.peerId,
        name: cfg.node.name,
        role: cfg.node.role,
        tags: cfg.node.tags,
        ephemeral: cfg.node.ephemeral,
        diskFree: this.disk.last.free,
        diskLevel: this.#diskLevel,
        accepting: this.#accepting(),
        evacuating: this.#evacuating,
        sinks: this.sinks?.backup.reachable() ?? [],
      }),
      view: this.view,
      manifest: this.manifest,
      policies: cfg.resolvedPolicies,
      transfers: this.transfers,
      events: this.events,
      clock: this.clock,
      log: this.log,
      grace: r,
      intervalMs: r.intervalSeconds * 1000,
      repairsPerMinute: r.repairsPerMinute,
      warmupMs: Math.max(1000, 3 * cfg.gossip.healthIntervalSeconds * 1000),
      viewSynced: () => this.view.peers().every((p) => p.state !== 'up' || !this.view.needsSync(p.peerId)),
      noLiveSource: (p) => this.sinks?.wantRestore(p),
      sinkCopies: (sha, size) => this.sinks?.copies(sha, size).length ?? 0,
    })
    this.sinks = new NodeSinks({
      cfg,
      self: this.peerId,
      db: this.db,
      manifest: this.manifest,
      planner: this.planner,
      snapshotDir: this.layout.snapshots,
      limiter: this.limits.upload,
      landing: this.#landingBase(),
      stagingDir: this.layout.staging,
      events: this.events,
      clock: this.clock,
      log: this.log,
    })
    this.cleanup = new Cleanup({
      self: this.peerId,
      dataDir: this.layout.dataDir,
      manifest: this.manifest,
      planner: this.planner,
      guard: this.guard,
      attest: async (peer, sha256, size, signal) => {
        const a = await (this.mesh.services.attest as AttestService).request(peerIdFromString(peer), sha256, size, { signal, now: () => this.clock.now() })
        return { peer: a.peer, sha256: a.sha256, size: a.size, timeMs: a.timeMs }
      },
      diskLevel: async () => {
        await this.#checkDisk()
        return this.#diskLevel
      },
      requiredCopies: cfg.disk.requiredCopiesForDelete,
      sinks: this.sinks.sinks.size > 0 || cfg.disk.requireBackupForDelete ? this.sinks : undefined,
      attestTimeoutMs: cfg.disk.attestTimeoutSeconds * 1000,
      events: this.events,
      clock: this.clock,
      log: this.log,
      intervalMs: Math.max(1000, r.intervalSeconds * 1000),
    })
    this.#replicationMetrics()
    this.view.onEntry(() => this.planner.poke())
    this.view.onHealthChange(() => this.planner.poke())
    this.manifest.onChange((e, removed) => {
      this.planner.poke()
      if (!removed && e.kind === 'npz' && e.origin === this.peerId) {
        const plan = this.planner.compute().get(e.sha256)
        this.events.emit('npz_export_complete', { sha256: e.sha256, path: e.path, size: e.size, targets: plan?.placement.desired.filter((p) => p !== this.peerId).map((p) => this.view.get(p)?.name ?? p) ?? [] })
      }
    })
  }

  #replicationMetrics(): void {
    const m = this.metrics
    m.gauge('meshsync_files_under_min_copies', 'Files with fewer copies that count than their minimum', [], (g) => g.set(this.planner.stats.filesUnderMin))
    m.gauge('meshsync_bytes_at_risk', 'Bytes of files under their minimum copies', [], (g) => g.set(this.planner.stats.bytesAtRisk))
    m.gauge('meshsync_sync_lag_seconds', 'Age of the oldest file not yet at its minimum copies', [], (g) => g.set(this.planner.stats.syncLagMs / 1000))
    m.gauge('meshsync_files_known', 'Distinct files known in the cluster', [], (g) => g.set(this.planner.stats.files))
    m.gauge('meshsync_node_disk_used_fraction', 'Disk used fraction per node, from health gossip', ['node'], (g) => {
      for (const n of this.readModels.nodes()) g.set({ node: String(n.name ?? n.peerId) }, (n.disk as { usedFraction: number }).usedFraction)
    })
    m.gauge('meshsync_evacuating', '1 while this node evacuates', [], (g) => g.set(this.#evacuating ? 1 : 0))
  }

  get evacuating(): boolean {
    return this.#evacuating
  }

  /**
   * Spot evacuation: tells the cluster this node is leaving and keeps serving
   * until every file it holds has its minimum on nodes that stay, or until
   * the deadline (replication.evacuationDeadlineSeconds by default).
   */
  async evacuate(deadlineMs = this.config.replication.evacuationDeadlineSeconds * 1000, signal?: AbortSignal): Promise<EvacuationResult> {
    this.#evacuating = true
    this.#evacuateDeadlineMs = this.clock.now() + deadlineMs
    return evacuate(
      {
        self: this.peerId,
        manifest: this.manifest,
        planner: this.planner,
        events: this.events,
        clock: this.clock,
        log: this.log,
        announce: () => this.gossip.pokeHealth(),
        withheld: () => this.withheld.list(),
        revalidate: (sha, signal) => this.#revalidateForEvacuation(sha, signal),
      },
      deadlineMs,
      signal,
    )
  }

  /**
   * Marks a local file promoted (a model to distribute): critical priority,
   * every node of its policy's roles pulls it, model_distributed follows when
   * all hold it. `which` is a path under the data dir or a SHA-256.
   */
  promote(which: string): ManifestEntry {
    const f = /^[0-9a-f]{64}$/.test(which) ? this.manifest.bySha(which)[0] : this.manifest.get(which.replace(/^\.\//, ''))
    if (f == null) throw new NotFoundError(`no file ${which} in this node's catalog (promote a file this node holds, by path under the data dir or by sha256)`)
    if (!f.promoted) this.manifest.put({ ...f, promoted: true }, this.clock.now())
    const policy = policyFor(this.config.resolvedPolicies, f.path, f.kind)
    this.events.emit('model_promoted', { sha256: f.sha256, path: f.path, size: f.size, policy: policy.name, roles: policy.roles })
    this.planner.poke()
    return { ...f, promoted: true }
  }

  #accepting(): boolean {
    const load = loadavg()[0]! / Math.max(1, cpus().length)
    return this.#diskLevel !== 'full' && load < this.config.replication.backpressureLoad
  }

  /**
   * Fetches a file by hash from whoever holds it (or only from `from`).
   * Resolves when it has landed here.
   */
  async fetch(sha256: string, opts: { from?: string; signal?: AbortSignal } = {}): Promise<ManifestEntry> {
    const held = this.manifest.bySha(sha256)[0]
    if (held != null) return held
    const entry = opts.from != null ? [...(this.view.get(opts.from)?.entries.values() ?? [])].find((e) => e.sha256 === sha256) : this.view.entryFor(sha256)
    if (entry == null) {
      throw new NotFoundError(opts.from != null ? `peer ${opts.from} does not announce ${sha256}` : `no node announces a file with sha256 ${sha256}`)
    }
    this.transfers.want(entry, { priority: 'high', reason: 'manual', from: opts.from })
    return this.transfers.wait(sha256, opts.signal)
  }

  #nextBootEpoch(): number {
    const row = this.db.prepare(`SELECT value FROM meta WHERE key = 'boot_epoch'`).get() as { value: string } | undefined
    const epoch = (row != null ? Number(row.value) : 0) + 1
    this.db.prepare(`INSERT INTO meta (key, value) VALUES ('boot_epoch', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`).run(String(epoch))
    return epoch
  }

  #bytesKept(): number {
    let n = 0
    for (const f of this.manifest.all()) n += f.size
    return n
  }

  async #checkDisk(): Promise<void> {
    const r = await this.disk.read()
    const level = diskLevel(r, this.config.disk)
    if (level !== this.#diskLevel) {
      this.events.emit('disk_level_changed', { from: this.#diskLevel, to: level, usedFraction: r.usedFraction, free: r.free })
      this.#diskLevel = level
      this.gossip.pokeHealth()
      this.planner.poke()
      if (level === 'full') this.cleanup.poke()
    }
  }

  #health(): Omit<HealthReport, 'seq' | 'timeMs'> {
    const cfg = this.config
    const d = this.disk.last
    return {
      name: cfg.node.name,
      role: cfg.node.role,
      provider: cfg.node.provider,
      tags: cfg.node.tags,
      ephemeral: cfg.node.ephemeral,
      disk: { total: d.total, free: d.free, usedFraction: d.usedFraction, level: this.#diskLevel },
      load: loadavg()[0]! / Math.max(1, cpus().length),
      accepting: this.#accepting(),
      version: BUILD_VERSION,
      uptimeMs: this.clock.now() - this.startedMs,
      addrs: this.mesh.getMultiaddrs().map((m) => m.toString().replace(/\/p2p\/[^/]+$/, '')),
      btPort: this.bittorrent?.port ?? 0,
      transports: [...(this.bittorrent != null ? ['libp2p', 'bittorrent'] : ['libp2p']), ...(this.lane != null ? ['lane'] : [])],
      lanePort: this.lane?.port ?? 0,
      manifest: { seq: this.manifest.seq, digest: this.manifest.digest, count: this.manifest.count },
      evacuating: this.#evacuating,
      evacuateDeadlineMs: this.#evacuateDeadlineMs,
      downloading: this.transfers.downloading().slice(0, 64),
      transfersActive: this.transfers.activeCount + this.provider.serving,
      sinks: this.sinks?.backup.reachable() ?? [],
    }
  }
}

/** The deletion rules from the config: attestations count for less time than the lease they grant (see DeletionGuard). */
export function deletionRules(cfg: ResolvedConfig): { required: number; maxAgeMs: number; leaseMs: number } {
  const timeoutMs = cfg.disk.attestTimeoutSeconds * 1000
  const maxAgeMs = Math.max(30_000, 2 * timeoutMs)
  return { required: cfg.disk.requiredCopiesForDelete, maxAgeMs, leaseMs: 2 * (maxAgeMs + timeoutMs) }
}

/** Leases this node granted, in the meta table, so a restart still honours them. */
function leaseStore(db: Db): LeaseStore {
  const put = db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`)
  return {
    load: () => (db.prepare(`SELECT key, value FROM meta WHERE key LIKE 'lease:%'`).all() as { key: string; value: string }[]).map((r) => [r.key.slice(6), Number(r.value)] as [string, number]),
    save: (sha, until) => put.run(`lease:${sha}`, String(until)),
  }
}
