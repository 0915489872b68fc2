import { readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { BlobClient } from '../../protocols/blob/index.js'
import { chunkSizeFor } from '../../protocols/blob/index.js'
import { PRIORITY_CODES } from '../../protocols/blob/constants.js'
import type { ManifestEntry } from '../../protocols/manifest/index.js'
import type { Metrics } from '../api/metrics.js'
import type { LocalManifest } from '../catalog/local-manifest.js'
import type { ClusterView } from '../cluster/view.js'
import { PRIORITIES, type Priority } from '../config/schema.js'
import type { EventLog } from '../state/event-log.js'
import type { Clock } from '../util/clock.js'
import { CancelledError, errorMessage, FsyncError, isAbort, MeshsyncError, NoSpaceError, NotFoundError, StalledError } from '../util/errors.js'
import type { StagingFsync } from '../util/fs.js'
import type { Logger } from '../util/log.js'
import { Loop } from '../util/loop.js'
import { AtRiskFiles } from './at-risk.js'
import type { CircuitBreakers } from './circuit-breaker.js'
import { bytesToWrite, type DiskSpace, isNoSpace, noRoomMessage } from './disk-room.js'
import { Download, type Progress, type Source } from './download.js'
import { KindInvalidError, land, type LandingInit, type Staged } from './landing.js'
import type { RateLimiter } from './rate-limiter.js'
import type { TransferReason, TransferRow, TransferStore } from './transfer-store.js'

export interface TransferConfig {
  maxConcurrent: number
  pipelinePerSource: number
  maxSources: number
  stallSeconds: number
  timeoutSeconds: number
  retries: number
  backoffBaseSeconds: number
  backoffMaxSeconds: number
  stagingMaxAgeSeconds: number
}

export interface TransferManagerInit {
  self: string
  stagingDir: string
  store: TransferStore
  manifest: LocalManifest
  view: ClusterView
  client: () => BlobClient
  breakers: CircuitBreakers
  download: RateLimiter
  perPeer: (peer: string) => RateLimiter
  landing: LandingInit
  events: EventLog
  metrics: Metrics
  clock: Clock
  log: Logger
  config: TransferConfig
  /** May a non-critical transfer start now (false while this node's disk is full)? */
  mayReceive: (priority: Priority) => boolean
  /**
   * Free space and what must stay free; a transfer starts only if what it
   * still has to write fits beside what the running ones still have to write.
   * Undefined: no check.
   */
  space?: () => DiskSpace
  /** fsync of staging files (tests make it fail); default fsync(2). */
  stagingFsync?: StagingFsync
  /** Told when a file landed (replication, observers). */
  onLanded?: (entry: ManifestEntry) => void
  /** Another transport (BitTorrent, for large files); without it everything moves over libp2p. */
  fallback?: TransferFallback
}

export type Transport = 'libp2p' | 'bittorrent'

/** A second way to move a file into staging, tried in the order it says. */
export interface TransferFallback {
  /** Transports to try for this file, in order (just ['libp2p'] when the fallback does not apply). */
  order(entry: ManifestEntry): Transport[]
  /** Fetches the whole file into `stagingPath` (the libp2p staging file, same layout). Landing follows. */
  fetch(entry: ManifestEntry, holders: () => string[], stagingPath: string, signal: AbortSignal): Promise<FallbackResult>
  /** How far its fetch of this file is (undefined when it is not fetching it). */
  progress(sha256: string): Progress | undefined
}

export interface FallbackResult {
  /** SHA-256 of the staged bytes (landing compares it with the manifest). */
  digest: string
  chunkSize: number
  chunkHashes: Uint8Array
  sources: string[]
  bytesReceived: number
  badChunks: number
}

interface Fetched {
  via: Transport
  staged: Staged
  bytesReceived: number
  resumedChunks: number
  badChunks: number
  /** The transport that failed before this one, and why. */
  after?: { via: Transport; reason: string }
}

export interface WantOptions {
  priority: Priority
  reason: TransferReason
  /** Fetch only from this peer (meshsync fetch --from). */
  from?: string
  /** Verified copies known (lower = more urgent among equal priorities). */
  copies?: number
}

export interface TransferJson {
  sha256: string
  path: string
  size: number
  state: string
  priority: Priority
  reason: TransferReason
  attempts: number
  lastError?: string
  nextAttemptMs?: number
  progress?: Progress
}

interface Active {
  row: TransferRow
  download: Download
  controller: AbortController
  startedMs: number
  order: Transport[]
  /** Aborts only the libp2p attempt (it stalled and another transport follows). */
  libp2p: AbortController
  /** The transport in use now. */
  via: Transport
  /** Landing has begun: the bytes are all here, so the transfer is no longer cancelled. */
  landing: boolean
  /** Set when cancel() called it off: why, and the bytes verified by then. */
  cancelled?: { reason: string; bytes: number }
}

/** A file that failed for a reason no retry can fix waits this long before it may be asked for again. */
const PERMANENT_FAILURE_MS = 365 * 24 * 3600 * 1000

/** A transfer that did not fit on the disk is looked at again after this long. */
const NO_ROOM_RETRY_MS = 30_000

/**
 * Owns every download: a durable queue (the transfers table), started by
 * priority up to `maxConcurrent`, each retried with exponential backoff
 * (jittered) and abandoned after `retries` attempts. One loop.
 */
export class TransferManager {
  readonly #init: TransferManagerInit
  readonly #active = new Map<string, Active>()
  readonly #waiters = new Map<string, { resolve: (f: ManifestEntry) => void; reject: (e: unknown) => void }[]>()
  readonly #copies = new Map<string, number>()
  /** Files being fetched whose only usable holder is flaky (status, files, the file_at_risk event). */
  readonly atRisk: AtRiskFiles
  readonly #loop: Loop
  #lastCleanMs = 0
  #cleaning: Promise<void> | undefined

  constructor(init: TransferManagerInit) {
    this.#init = init
    this.atRisk = new AtRiskFiles({ events: init.events, clock: init.clock, wanted: (sha) => init.store.get(sha) != null })
    this.#loop = new Loop({ name: 'transfers', intervalMs: 500, clock: init.clock, log: init.log, jitter: 0 }, () => this.#tick())
  }

  async start(): Promise<void> {
    await this.#cleanStaging()
    this.#lastCleanMs = this.#init.clock.now()
    // after a crash, what was active is queued again (it resumes from its chunk map)
    for (const row of this.#init.store.all()) {
      if (row.state === 'active') this.#init.store.setState(row.entry.sha256, { state: 'queued', attempts: row.attempts, nextAttemptMs: 0 }, this.#init.clock.now())
    }
    this.#loop.start()
  }

  async stop(): Promise<void> {
    await this.#loop.stop()
    for (const a of this.#active.values()) a.controller.abort(new Error('node stopping'))
    const deadline = this.#init.clock.now() + 5000
    while (this.#active.size > 0 && this.#init.clock.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  }

  get activeCount(): number {
    return this.#active.size
  }

  /** Downloads in progress (their verified chunks are served to others). */
  download(sha256: string): Download | undefined {
    return this.#active.get(sha256)?.download
  }

  /** SHA-256 of files being fetched now, for health gossip. */
  downloading(): string[] {
    return [...this.#active.keys()]
  }

  isWanted(sha256: string): boolean {
    return this.#init.store.get(sha256) != null
  }

  /** The manifest entry a queued or running transfer of these bytes is for. */
  wantedEntry(sha256: string): ManifestEntry | undefined {
    return this.#init.store.get(sha256)?.entry
  }

  /**
   * Asks for a file. Idempotent: a file already held, queued or active is not
   * queued twice (a higher priority or a manual request updates the entry).
   * Returns what happened.
   */
  want(entry: ManifestEntry, opts: WantOptions): 'held' | 'queued' | 'already' {
    if (this.#init.manifest.has(entry.sha256)) return 'held'
    const now = this.#init.clock.now()
    const existing = this.#init.store.get(entry.sha256)
    if (opts.copies != null) this.#copies.set(entry.sha256, opts.copies)
    if (existing != null) {
      const manual = opts.reason === 'manual'
      const higher = PRIORITIES[opts.priority] > PRIORITIES[existing.priority]
      const retryFailed = existing.state === 'failed' && (manual || now >= existing.nextAttemptMs)
      if (!manual && !higher && !retryFailed) return 'already'
      this.#init.store.put({
        ...existing,
        priority: higher ? opts.priority : existing.priority,
        reason: manual ? 'manual' : existing.reason,
        preferredPeer: opts.from ?? existing.preferredPeer,
        state: existing.state === 'active' ? 'active' : 'queued',
        attempts: retryFailed || manual ? 0 : existing.attempts,
        nextAttemptMs: existing.state === 'active' ? existing.nextAttemptMs : 0,
        updatedMs: now,
      })
      this.#loop.poke()
      return 'already'
    }
    this.#init.store.put({
      entry,
      chunkSize: chunkSizeFor(entry.size),
      staging: `${entry.sha256}.part`,
      priority: opts.priority,
      reason: opts.reason,
      state: 'queued',
      attempts: 0,
      nextAttemptMs: 0,
      preferredPeer: opts.from,
      createdMs: now,
      updatedMs: now,
    })
    this.#loop.poke()
    return 'queued'
  }

  /**
   * Drops a transfer that is no longer wanted: a queued one at once, a
   * running one by aborting it (its staging file and chunk map go; waiters
   * get a CancelledError). One that is already landing is let finish.
   */
  cancel(sha256: string, reason = 'no longer wanted'): boolean {
    const a = this.#active.get(sha256)
    if (a != null) {
      if (a.landing || a.cancelled != null) return false
      a.cancelled = { reason, bytes: this.progress(sha256)?.bytes ?? 0 }
      a.controller.abort(new CancelledError(`${a.row.entry.path}: ${reason}`))
      return true
    }
    const row = this.#init.store.get(sha256)
    if (row == null) return false
    void this.#forget(row)
    return true
  }

  /**
   * Removes a transfer's row and its staging file. The row first, so no tick
   * starts it again; when that write fails (a full disk: SQLITE_FULL), it is
   * tried again once the staging file's space is back.
   */
  async #forget(row: TransferRow): Promise<void> {
    const { store, stagingDir, log } = this.#init
    const drop = (): boolean => {
      try {
        store.delete(row.entry.sha256)
        return true
      } catch {
        return false
      }
    }
    const dropped = drop()
    await rm(join(stagingDir, row.staging), { force: true }).catch(() => {})
    // still failing: the row stays and points at a staging file that is gone; the next start resumes from nothing
    if (!dropped && !drop()) log.error({ path: row.entry.path }, 'could not drop a transfer row (is the disk full?)')
  }

  /** Resolves when the file has landed; rejects when its transfer fails for good or the signal aborts. */
  wait(sha256: string, signal?: AbortSignal): Promise<ManifestEntry> {
    const held = this.#init.manifest.bySha(sha256)[0]
    if (held != null) return Promise.resolve(held)
    return new Promise((resolve, reject) => {
      const list = this.#waiters.get(sha256) ?? []
      const w = { resolve, reject }
      list.push(w)
      this.#waiters.set(sha256, list)
      signal?.addEventListener(
        'abort',
        () => {
          const l = this.#waiters.get(sha256)
          if (l != null) this.#waiters.set(sha256, l.filter((x) => x !== w))
          reject(signal.reason)
        },
        { once: true },
      )
    })
  }

  list(): TransferJson[] {
    return this.#init.store.all().map((r) => ({
      sha256: r.entry.sha256,
      path: r.entry.path,
      size: r.entry.size,
      state: r.state,
      priority: r.priority,
      reason: r.reason,
      attempts: r.attempts,
      lastError: r.lastError,
      nextAttemptMs: r.state === 'waiting' || r.state === 'failed' ? r.nextAttemptMs : undefined,
      progress: this.progress(r.entry.sha256),
    }))
  }

  progress(sha256: string): Progress | undefined {
    const a = this.#active.get(sha256)
    if (a == null) return undefined
    return a.via === 'bittorrent' ? (this.#init.fallback?.progress(sha256) ?? { ...a.download.progress(), via: 'bittorrent' }) : a.download.progress()
  }

  #tick(): void {
    const now = this.#init.clock.now()
    const cfg = this.#init.config
    // abandoned staging files go while the node runs too, not only at the next start
    if (this.#cleaning == null && now - this.#lastCleanMs >= Math.min(60_000, cfg.stagingMaxAgeSeconds * 1000)) {
      this.#lastCleanMs = now
      this.#cleaning = this.#cleanStaging()
        .catch((err) => this.#init.log.warn({ err: errorMessage(err) }, 'staging cleanup failed'))
        .finally(() => {
          this.#cleaning = undefined
        })
    }
    const ready = this.#init.store
      .all()
      .filter((r) => (r.state === 'queued' || r.state === 'waiting') && r.nextAttemptMs <= now && !this.#active.has(r.entry.sha256))
      .sort(
        (a, b) =>
          PRIORITIES[b.priority] - PRIORITIES[a.priority] ||
          (this.#copies.get(a.entry.sha256) ?? 99) - (this.#copies.get(b.entry.sha256) ?? 99) ||
          a.createdMs - b.createdMs,
      )
    // free space, read once per tick (on the first transfer that wants to start), less what each one started takes
    let room: number | undefined
    for (const row of ready) {
      if (this.#active.size >= cfg.maxConcurrent) break
      if (this.#init.manifest.has(row.entry.sha256)) {
        this.#init.store.delete(row.entry.sha256)
        this.#settle(row.entry.sha256, row.entry)
        continue
      }
      if (!this.#init.mayReceive(row.priority)) continue
      room ??= this.#room()
      const need = bytesToWrite(row)
      if (need > room) {
        this.#noRoom(row, need, room)
        continue
      }
      this.#start(row)
      room -= need
    }
  }

  /** Free bytes beyond disk.minFree and beyond what the running transfers still have to write. */
  #room(): number {
    const space = this.#init.space?.()
    if (space == null) return Number.POSITIVE_INFINITY
    let pending = 0
    for (const [sha, a] of this.#active) pending += Math.max(0, a.row.entry.size - (this.progress(sha)?.bytes ?? 0))
    return space.free - space.keep - pending
  }

  /**
   * A transfer that does not fit now. Asked for by hand: it fails at once,
   * saying how much it needs and how much there is. A replica or repair: it
   * waits and is tried again (cleanup or a finished transfer may make room;
   * placement may also move it elsewhere, since the node's health shows its free disk).
   */
  #noRoom(row: TransferRow, need: number, room: number): void {
    const init = this.#init
    const sha = row.entry.sha256
    const now = init.clock.now()
    const reason = noRoomMessage(row.entry.path, need, room)
    if (row.reason === 'manual') {
      void this.#forget(row)
      init.metrics.transfers.inc({ result: 'failed' })
      init.events.emit('sync_failed', { sha256: sha, path: row.entry.path, reason, code: 'ERR_NO_SPACE', attempt: row.attempts, retryInMs: null, final: true })
      init.log.warn({ path: row.entry.path, sha256: sha, need, room }, 'not enough disk space for a fetch')
      this.#settle(sha, undefined, new NoSpaceError(reason))
      return
    }
    // said once, not every tick
    if (row.lastError?.startsWith('not enough disk space') !== true) {
      init.events.emit('sync_deferred', { sha256: sha, path: row.entry.path, reason, needBytes: need, roomBytes: Math.max(0, room) })
      init.log.warn({ path: row.entry.path, sha256: sha, need, room }, 'transfer waits for disk space')
    }
    init.store.setState(sha, { state: 'waiting', attempts: row.attempts, nextAttemptMs: now + NO_ROOM_RETRY_MS, lastError: reason }, now)
    this.#loop.pokeIn(NO_ROOM_RETRY_MS)
  }

  /** Holders of the file that are up, plus nodes downloading it (they serve their verified chunks). */
  #sources(row: TransferRow): Source[] {
    const { view, self } = this.#init
    const sha = row.entry.sha256
    const up = (p: string) => view.get(p)?.state === 'up'
    if (row.preferredPeer != null) return up(row.preferredPeer) || view.get(row.preferredPeer) == null ? [{ peer: row.preferredPeer, complete: true }] : []
    const complete = view.holders(sha).filter((p) => p !== self && up(p))
    const partial = view
      .peers()
      .filter((p) => p.peerId !== self && p.state === 'up' && !complete.includes(p.peerId) && p.health?.downloading.includes(sha) === true)
      .map((p) => p.peerId)
    // busy holders last: a loaded node says so in its health; holders whose breaker is not closed after
    // them (ranked last, never dropped: the download probes one that is the only holder)
    const accepting = (p: string) => (view.get(p)?.health?.accepting === false ? 1 : 0)
    const flaky = (p: string) => (this.#init.breakers.state(p) === 'closed' ? 0 : 1)
    return [
      ...shuffle(complete)
        .sort((a, b) => flaky(a) - flaky(b) || accepting(a) - accepting(b))
        .map((peer) => ({ peer, complete: true })),
      ...shuffle(partial).map((peer) => ({ peer, complete: false })),
    ]
  }

  #start(row: TransferRow): void {
    const init = this.#init
    const sha = row.entry.sha256
    const now = init.clock.now()
    const controller = new AbortController()
    const stagingPath = join(init.stagingDir, row.staging)
    const attempt = row.attempts + 1
    const order = init.fallback?.order(row.entry) ?? ['libp2p']
    // a stalled libp2p path is given up when another transport comes after it
    const giveUpOnStall = order.indexOf('libp2p') < order.length - 1
    init.store.setState(sha, { state: 'active', attempts: row.attempts, nextAttemptMs: 0 }, now)
    const download = new Download({
      entry: row.entry,
      stagingPath,
      have: row.have,
      chunkHashes: row.chunkHashes,
      priority: PRIORITY_CODES.includes(row.priority) ? row.priority : 'normal',
      weight: PRIORITIES[row.priority],
      copies: this.#copies.get(sha) ?? 0,
      client: init.client(),
      clock: init.clock,
      log: init.log,
      breakers: init.breakers,
      limiter: init.download,
      peerLimiter: init.perPeer,
      sources: () => this.#sources(row),
      pipeline: init.config.pipelinePerSource,
      maxSources: init.config.maxSources,
      stallMs: init.config.stallSeconds * 1000,
      timeoutMs: Math.max(init.config.timeoutSeconds * 1000, 1000),
      persist: (have, hashes) => init.store.saveHave(sha, have, hashes, init.clock.now()),
      onBadChunk: (peer, index) => {
        init.metrics.chunksRejected.inc({ peer })
        init.events.emit('chunk_rejected', { peer, sha256: sha, path: row.entry.path, chunk: index })
      },
      onBadMeta: (peer, reason) => init.events.emit('chunk_rejected', { peer, sha256: sha, path: row.entry.path, reason: `metadata: ${reason}` }),
      onSoleHolder: (peer, reason) => this.atRisk.mark({ sha256: sha, path: row.entry.path, peer, reason, copies: this.#copies.get(sha) }),
      sha1PieceLength: init.landing.pieceLength?.(row.entry.size),
      fsync: init.stagingFsync,
      onStalled: (idleMs, sources) => {
        init.events.emit('sync_stalled', { sha256: sha, path: row.entry.path, idleMs, sources, via: 'libp2p' })
        if (giveUpOnStall) this.#active.get(sha)?.libp2p.abort(new StalledError(`libp2p: nothing verified for ${idleMs} ms`))
      },
    })
    const active: Active = { row, download, controller, startedMs: now, order, libp2p: new AbortController(), landing: false, via: order[0] ?? 'libp2p' }
    this.#active.set(sha, active)
    init.events.emit('sync_started', { sha256: sha, path: row.entry.path, size: row.entry.size, priority: row.priority, reason: row.reason, attempt })
    void this.#run(active, attempt).catch((err: unknown) => {
      // only the bookkeeping after a failure can get here (its state database write failed: a full disk);
      // the transfer is over, and its row is tried again after a restart
      init.log.error({ path: row.entry.path, sha256: sha, err: errorMessage(err) }, 'transfer bookkeeping failed')
      this.#active.delete(sha)
      this.#settle(sha, undefined, err)
    })
  }

  async #run(a: Active, attempt: number): Promise<void> {
    const init = this.#init
    const { row, controller } = a
    const sha = row.entry.sha256
    try {
      const result = await this.#fetch(a)
      if (a.cancelled == null) a.landing = true
      controller.signal.throwIfAborted()
      const landed = await land(init.landing, result.staged, controller.signal)
      init.store.delete(sha)
      const ms = init.clock.now() - a.startedMs
      init.metrics.transfers.inc({ result: 'completed' })
      init.metrics.transferSeconds.observe(ms / 1000)
      init.metrics.transferBytes.inc({ direction: 'in', transport: result.via }, result.bytesReceived)
      init.events.emit('sync_completed', {
        sha256: sha,
        path: landed.path,
        size: row.entry.size,
        checksumVerified: true,
        via: result.via,
        ...(result.after != null ? { fallbackFrom: result.after.via, fallbackReason: result.after.reason } : {}),
        sources: result.staged.sources,
        bytesReceived: result.bytesReceived,
        resumedChunks: result.resumedChunks,
        badChunks: result.badChunks,
        durationMs: ms,
        megabytesPerSecond: ms > 0 ? Math.round((row.entry.size / 1e6 / (ms / 1000)) * 10) / 10 : null,
        // the old name of megabytesPerSecond (it never held megabits), kept for one release
        mbps: ms > 0 ? Math.round((row.entry.size / 1e6 / (ms / 1000)) * 10) / 10 : null,
        reason: row.reason,
      })
      this.#active.delete(sha)
      this.#settle(sha, landed)
      init.onLanded?.(landed)
    } catch (err) {
      this.#active.delete(sha)
      if (a.cancelled != null) {
        this.#dropCancelled(a, a.cancelled)
        return
      }
      if (isNoSpace(err)) {
        await this.#diskFull(a, err, attempt)
        return
      }
      if (err instanceof FsyncError) await this.#dropStaged(row)
      if (isAbort(err) || controller.signal.aborted) {
        // stopping: the row stays and resumes next start
        init.store.setState(sha, { state: 'queued', attempts: row.attempts, nextAttemptMs: 0 }, init.clock.now())
        return
      }
      const permanent = err instanceof KindInvalidError
      const giveUp = permanent || attempt > init.config.retries
      const backoff = this.#backoff(attempt)
      const nextAttemptMs = init.clock.now() + (permanent ? PERMANENT_FAILURE_MS : giveUp ? init.config.backoffMaxSeconds * 1000 * 2 : backoff)
      const reason = errorMessage(err)
      init.store.setState(sha, { state: giveUp ? 'failed' : 'waiting', attempts: attempt, nextAttemptMs, lastError: reason }, init.clock.now())
      init.metrics.transfers.inc({ result: permanent ? 'quarantined' : 'failed' })
      init.events.emit('sync_failed', {
        sha256: sha,
        path: row.entry.path,
        reason,
        code: (err as MeshsyncError).code,
        attempt,
        retryInMs: giveUp ? null : backoff,
        final: giveUp,
      })
      init.log.warn({ path: row.entry.path, sha256: sha, attempt, err: reason, final: giveUp }, 'transfer failed')
      if (giveUp) this.#settle(sha, undefined, err instanceof MeshsyncError ? err : new NotFoundError(reason))
      this.#loop.pokeIn(giveUp ? 0 : backoff)
    } finally {
      this.#loop.poke()
    }
  }

  /**
   * fsync of the staging file failed: what the page cache shows may never
   * have reached the disk. The file and its chunk map go, so the retry
   * fetches every byte again instead of resuming from them.
   */
  async #dropStaged(row: TransferRow): Promise<void> {
    const init = this.#init
    await rm(join(init.stagingDir, row.staging), { force: true })
    init.store.saveHave(row.entry.sha256, new Uint8Array(0), undefined, init.clock.now())
    init.log.error({ path: row.entry.path, sha256: row.entry.sha256 }, 'fsync of a staging file failed; it is dropped and fetched again')
  }

  /**
   * The filesystem ran out of room while the transfer wrote (something else
   * filled the disk after it started). Its staging file goes, to give the
   * space back to the rest of the node (its state database first); a
   * replica is wanted again by the planner once there is room, a manual
   * fetch fails.
   */
  async #diskFull(a: Active, err: unknown, attempt: number): Promise<void> {
    const init = this.#init
    const { row } = a
    const sha = row.entry.sha256
    const reason = `disk full while writing ${row.entry.path} (${errorMessage(err)}); its staging file was removed to give the space back`
    init.log.error({ path: row.entry.path, sha256: sha, err: errorMessage(err) }, 'disk full during a transfer')
    await this.#forget(row)
    init.metrics.transfers.inc({ result: 'failed' })
    init.events.emit('sync_failed', { sha256: sha, path: row.entry.path, reason, code: 'ERR_NO_SPACE', attempt, retryInMs: null, final: true })
    this.#settle(sha, undefined, new NoSpaceError(reason, { cause: err }))
  }

  #dropCancelled(a: Active, cancelled: { reason: string; bytes: number }): void {
    const init = this.#init
    const { row } = a
    const sha = row.entry.sha256
    void this.#forget(row)
    init.metrics.transfers.inc({ result: 'cancelled' })
    init.events.emit('sync_cancelled', {
      sha256: sha,
      path: row.entry.path,
      reason: cancelled.reason,
      wantedAs: row.reason,
      bytesVerified: cancelled.bytes,
      durationMs: init.clock.now() - a.startedMs,
    })
    init.log.info({ path: row.entry.path, sha256: sha, why: cancelled.reason }, 'transfer cancelled')
    this.#settle(sha, undefined, new CancelledError(`${row.entry.path}: ${cancelled.reason}`))
  }

  /** Moves the bytes into staging over each transport in turn, until one succeeds. */
  async #fetch(a: Active): Promise<Fetched> {
    const { row, download, controller } = a
    let after: Fetched['after']
    let lastErr: unknown
    for (const via of a.order) {
      a.via = via
      try {
        if (via === 'bittorrent' && this.#init.fallback != null) {
          const stagingPath = join(this.#init.stagingDir, row.staging)
          const r = await this.#init.fallback.fetch(row.entry, () => this.#sources(row).map((s) => s.peer), stagingPath, controller.signal)
          const staged = { entry: row.entry, stagingPath, digest: r.digest, chunkSize: r.chunkSize, chunkHashes: r.chunkHashes, sources: r.sources }
          return { via, staged, bytesReceived: r.bytesReceived, resumedChunks: 0, badChunks: r.badChunks, after }
        }
        const result = await download.run(AbortSignal.any([controller.signal, a.libp2p.signal]))
        const staged = {
          entry: row.entry,
          stagingPath: download.stagingPath,
          digest: result.digest,
          chunkSize: download.meta!.chunkSize,
          chunkHashes: download.chunkHashes!,
          sources: result.sourcesUsed,
          sha1Pieces: result.sha1Pieces,
        }
        return { via: 'libp2p', staged, bytesReceived: result.bytesReceived, resumedChunks: result.resumedChunks, badChunks: result.badChunks, after }
      } catch (err) {
        // the staged bytes cannot be trusted: no other transport may resume from them
        if (controller.signal.aborted || err instanceof FsyncError || isNoSpace(err)) throw err
        lastErr = err
        after = { via, reason: errorMessage(err) }
        this.#init.log.info({ path: row.entry.path, via, err: after.reason }, 'transport failed; the next one is tried')
      }
    }
    throw lastErr
  }

  #backoff(attempt: number): number {
    const cfg = this.#init.config
    const base = Math.min(cfg.backoffMaxSeconds, cfg.backoffBaseSeconds * 2 ** (attempt - 1)) * 1000
    return Math.round(base * (0.5 + Math.random()))
  }

  #settle(sha256: string, landed: ManifestEntry | undefined, err?: unknown): void {
    const list = this.#waiters.get(sha256)
    if (list == null) return
    this.#waiters.delete(sha256)
    for (const w of list) {
      if (landed != null) w.resolve(landed)
      else w.reject(err)
    }
  }

  /** Removes staging files no transfer owns, and transfers abandoned for too long. */
  async #cleanStaging(): Promise<void> {
    const init = this.#init
    const now = init.clock.now()
    const maxAge = init.config.stagingMaxAgeSeconds * 1000
    // the folder first, then the rows: a transfer's row is written before its staging file, so a file listed here has its row below
    let names: string[] = []
    try {
      names = await readdir(init.stagingDir)
    } catch {
      names = []
    }
    const rows = new Map(init.store.all().map((r) => [r.staging, r]))
    for (const r of rows.values()) {
      if (r.state === 'failed' && now - r.updatedMs > maxAge && !this.#active.has(r.entry.sha256)) {
        init.store.delete(r.entry.sha256)
        rows.delete(r.staging)
        this.#init.log.info({ path: r.entry.path, sha256: r.entry.sha256 }, 'dropped a transfer abandoned for longer than stagingMaxAgeSeconds')
      }
    }
    for (const name of names) {
      if (rows.has(name)) continue
      const p = join(init.stagingDir, name)
      const st = await stat(p).catch(() => undefined)
      await rm(p, { force: true, recursive: st?.isDirectory() === true })
      init.log.info({ file: name }, 'removed a staging file no transfer owns')
    }
  }
}

function shuffle<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[a[i], a[j]] = [a[j]!, a[i]!]
  }
  return a
}
