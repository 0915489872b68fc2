import { createHash, type Hash } from 'node:crypto'
import { constants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { peerIdFromString } from '@libp2p/peer-id'
import { Bitfield, chunkCount, chunkLength, chunkRoot, chunkSizeFor, metaProblem, type BlobClient, type BlobMeta, type BlobSession, type WirePriority } from '../../protocols/blob/index.js'
import { LaneUnavailableError } from '../../protocols/blob/lane/index.js'
import type { ManifestEntry } from '../../protocols/manifest/index.js'
import { PieceHasher, type Sha1Pieces } from '../catalog/hasher.js'
import type { Clock } from '../util/clock.js'
import { errorMessage, FsyncError, InvalidMessageError, isAbort, NotFoundError, StalledError, TimeoutError } from '../util/errors.js'
import { fsyncFd, type StagingFsync } from '../util/fs.js'
import type { Logger } from '../util/log.js'
import type { CircuitBreakers } from './circuit-breaker.js'
import type { RateLimiter } from './rate-limiter.js'

/** Files of at least this many chunks are fetched in shuffled runs of SHUFFLE_RUN chunks. */
const SHUFFLE_RUNS_FROM = 32
const SHUFFLE_RUN = 4

/** Chunks in flight to a complete holder while partial holders are also serving us. */
const SWARM_SOURCE_PIPELINE = 2

/** Partial holders (nodes still downloading) a download may have sessions with, beyond complete ones. */
const MAX_PARTIAL_SESSIONS = 8

/** At most this many chunk buffers per download (1 MiB chunks: 20 MiB). */
const MAX_POOL_BUFFERS = 12

export interface Source {
  peer: string
  /** Holds the whole file (else it is itself downloading it). */
  complete: boolean
}

export interface DownloadInit {
  entry: ManifestEntry
  stagingPath: string
  /** Resume state from an earlier attempt. */
  have?: Uint8Array
  chunkHashes?: Uint8Array
  priority: WirePriority
  weight: number
  copies: number
  client: BlobClient
  clock: Clock
  log: Logger
  breakers: CircuitBreakers
  /** Shared download limiter, and the per-peer one for a source. */
  limiter: RateLimiter
  peerLimiter: (peer: string) => RateLimiter
  /** Current candidate sources (called again as the download goes on). */
  sources: () => Source[]
  pipeline: number
  maxSources: number
  stallMs: number
  timeoutMs: number
  /** Persist the resume map (called every `pipeline` verified chunks or 500 ms, whichever comes first, and at the end). */
  persist: (have: Uint8Array, chunkHashes: Uint8Array) => void
  /** A chunk failed its hash: counted against the peer. */
  onBadChunk: (peer: string, index: number) => void
  onStalled: (idleMs: number, sources: string[]) => void
  onProgress?: (p: Progress) => void
  /** The metadata a holder sent broke the pre-transfer checks. */
  onBadMeta?: (peer: string, reason: string) => void
  /**
   * The only usable holder of the file is flaky: it is probed through its
   * open breaker, or kept after sending bad chunks where another holder
   * would have been dropped. Said at most once per download.
   */
  onSoleHolder?: (peer: string, reason: string) => void
  /** Also hash SHA-1 pieces of this length, in order with the whole-file SHA-256 (a torrent's pieces, for landing). */
  sha1PieceLength?: number
  /** fsync of the staging file (tests make it fail); default fsync(2). */
  fsync?: StagingFsync
}

export interface Progress {
  /** The transport moving the bytes now. */
  via: 'libp2p' | 'bittorrent'
  bytes: number
  total: number
  chunksDone: number
  chunks: number
  sources: string[]
  rate: number
}

export interface DownloadResult {
  sha256: string
  /** SHA-256 of the staged bytes, computed as they were written. */
  digest: string
  size: number
  sourcesUsed: string[]
  bytesReceived: number
  badChunks: number
  resumedChunks: number
  /** When sha1PieceLength was given. */
  sha1Pieces?: Sha1Pieces
}

interface SessionState {
  peer: string
  session: BlobSession
  complete: boolean
  avail: Bitfield
  inflight: Set<number>
  lastChunkMs: number
  bad: number
  lastHaveAsk: number
  closed: boolean
  /** Bad chunks since the last good one. */
  badRun: number
}

/** Source failures are remembered this long within one download. */
const SOURCE_COOLDOWN_MS = 5000
/**
 * A source that sent this many bad chunks is dropped for the rest of the
 * download; the only usable holder is not: its session is closed after this
 * many bad chunks in a row, and it is probed again after the cooldown.
 */
const MAX_BAD_CHUNKS = 2
const HAVE_POLL_MS = 500
const PERSIST_MS = 500
/** With no holder in sight, a download fails only after this long (or stallMs, if shorter). */
const NO_SOURCE_GRACE_MS = 5000

/**
 * Fetches one file from several holders at once into a staging file.
 *
 * Every chunk is hashed as it arrives and written only if it matches;
 * a wrong chunk is discarded, counted against its holder and asked of
 * another. Work moves to fast holders on its own: each holder gets a few
 * chunks ahead and more as it answers; rare chunks (among holders that are
 * themselves downloading) are asked for first; near the end, the last chunks
 * are asked of a second holder too. A holder that answers nothing for
 * `stallMs` is dropped. The whole-file SHA-256 is computed in order as the
 * chunks land, so landing does not read the file again.
 */
export class Download {
  readonly #init: DownloadInit
  readonly entry: ManifestEntry
  #meta: BlobMeta | undefined
  have: Bitfield | undefined
  #chunkHashes: Uint8Array | undefined
  readonly #sessions = new Map<string, SessionState>()
  readonly #cooldown = new Map<string, number>()
  readonly #banned = new Set<string>()
  readonly #used = new Set<string>()
  #fh: FileHandle | undefined
  #whole: Hash = createHash('sha256')
  #pieces: PieceHasher | undefined
  #hashCursor = 0
  #catchingUp: Promise<void> | undefined
  #order: number[] = []
  #pickCursor = 0
  #pool: Uint8Array[] = []
  #poolWaiters: (() => void)[] = []
  #writes = new Set<Promise<void>>()
  /** Chunks verified and being written (not to be asked for again). */
  readonly #landing = new Set<number>()
  #bytesReceived = 0
  #badChunks = 0
  #resumedChunks = 0
  #lastProgressMs = 0
  /** Chunks verified since the resume map was last persisted (a crash re-fetches at most these). */
  #unsaved = 0
  #lastPersist = 0
  #controller = new AbortController()
  #done: { resolve: () => void; reject: (e: unknown) => void } | undefined
  #startedMs = 0
  #rateWindow: { t: number; bytes: number }[] = []
  #opening = new Set<string>()
  readonly #openingComplete = new Map<string, boolean>()
  #soleSaid = false

  constructor(init: DownloadInit) {
    this.#init = init
    this.entry = init.entry
    if (init.sha1PieceLength != null) this.#pieces = new PieceHasher(init.entry.size, init.sha1PieceLength)
  }

  get stagingPath(): string {
    return this.#init.stagingPath
  }

  /** The metadata (after the first holder answered). */
  get meta(): BlobMeta | undefined {
    return this.#meta
  }

  get chunkHashes(): Uint8Array | undefined {
    return this.#chunkHashes
  }

  /** Can this node serve chunk i of the file while downloading it? */
  hasChunk(i: number): boolean {
    return this.have?.get(i) === true
  }

  progress(): Progress {
    const chunks = this.have?.length ?? chunkCount(this.entry.size, chunkSizeFor(this.entry.size))
    const done = this.have?.count() ?? 0
    const cs = chunkSizeFor(this.entry.size)
    const now = this.#init.clock.now()
    this.#rateWindow = this.#rateWindow.filter((r) => now - r.t <= 3000)
    const windowBytes = this.#rateWindow.reduce((a, r) => a + r.bytes, 0)
    const span = Math.max(1, Math.min(3000, now - this.#startedMs))
    return {
      via: 'libp2p',
      bytes: Math.min(this.entry.size, done * cs),
      total: this.entry.size,
      chunksDone: done,
      chunks,
      sources: [...this.#sessions.keys()],
      rate: (windowBytes / span) * 1000,
    }
  }

  async run(signal: AbortSignal): Promise<DownloadResult> {
    const init = this.#init
    const onAbort = (): void => this.#controller.abort(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    const timeout = init.clock.setTimeout(() => this.#controller.abort(new TimeoutError(`${this.entry.path}: not done within ${init.timeoutMs} ms`)), init.timeoutMs)
    this.#startedMs = init.clock.now()
    this.#lastProgressMs = this.#startedMs
    try {
      this.#fh = await open(init.stagingPath, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o644)
      const st = await this.#fh.stat()
      if (st.size !== this.entry.size) await this.#fh.truncate(this.entry.size)
      if (init.chunkHashes != null && init.have != null) await this.#resume(init.chunkHashes, init.have)
      if (this.entry.size === 0) {
        this.#meta = { size: 0, sha256: this.entry.sha256, chunkSize: chunkSizeFor(0), chunkHashes: new Uint8Array(0), kind: this.entry.kind, facts: '', complete: true }
        this.#chunkHashes = new Uint8Array(0)
        this.have = new Bitfield(0)
      } else {
        await new Promise<void>((resolve, reject) => {
          this.#done = { resolve, reject }
          this.#controller.signal.addEventListener('abort', () => reject(this.#controller.signal.reason), { once: true })
          if (this.have?.full()) resolve()
          this.#tick()
        })
      }
      await Promise.all(this.#writes)
      await this.#catchUp()
      this.#persist(true)
      try {
        await (init.fsync ?? fsyncFd)(this.#fh.fd)
      } catch (err) {
        throw new FsyncError(`fsync of the staging file of ${this.entry.path} failed (${errorMessage(err)}); its bytes are not used`, { cause: err })
      }
      return {
        sha256: this.entry.sha256,
        digest: this.#whole.digest('hex'),
        size: this.entry.size,
        sourcesUsed: [...this.#used],
        bytesReceived: this.#bytesReceived,
        badChunks: this.#badChunks,
        resumedChunks: this.#resumedChunks,
        sha1Pieces: this.#pieces?.finish(),
      }
    } finally {
      init.clock.clearTimeout(timeout)
      signal.removeEventListener('abort', onAbort)
      if (!this.#controller.signal.aborted) this.#controller.abort(new Error('download finished'))
      for (const s of this.#sessions.values()) this.#closeSession(s, undefined)
      await Promise.allSettled(this.#writes)
      try {
        this.#persist(true)
      } finally {
        // closed whatever happened: on a full disk the chunk map cannot be saved (SQLITE_FULL), and an open
        // descriptor would keep the staging file's space after it is removed
        await this.#fh?.close()
        this.#fh = undefined
      }
    }
  }

  /** Re-checks the chunks an earlier attempt wrote, keeping only those that still match. */
  async #resume(chunkHashes: Uint8Array, haveBytes: Uint8Array): Promise<void> {
    const cs = chunkSizeFor(this.entry.size)
    const n = chunkCount(this.entry.size, cs)
    if (chunkHashes.byteLength !== n * 32 || chunkRoot(chunkHashes).toString('hex') !== this.entry.chunkRoot) return
    this.#chunkHashes = chunkHashes
    const claimed = new Bitfield(n, haveBytes)
    const have = new Bitfield(n)
    const buf = Buffer.allocUnsafe(cs)
    let contiguous = true
    for (let i = 0; i < n; i++) {
      if (!claimed.get(i)) {
        contiguous = false
        continue
      }
      this.#controller.signal.throwIfAborted()
      const len = chunkLength(this.entry.size, cs, i)
      const { bytesRead } = await this.#fh!.read(buf, 0, len, i * cs)
      if (bytesRead !== len) continue
      const view = buf.subarray(0, len)
      if (!createHash('sha256').update(view).digest().equals(Buffer.from(chunkHashes.subarray(i * 32, i * 32 + 32)))) {
        contiguous = false
        continue
      }
      have.set(i)
      this.#resumedChunks++
      if (contiguous) {
        this.#hashInOrder(view)
        this.#hashCursor = i + 1
      }
    }
    this.have = have
    // all there already (the last attempt failed after the download, e.g. while landing): no holder is asked, so no holder's metadata
    if (have.full()) this.#meta = { size: this.entry.size, sha256: this.entry.sha256, chunkSize: cs, chunkHashes, kind: this.entry.kind, facts: '', complete: true }
    this.#init.log.info({ path: this.entry.path, resumed: this.#resumedChunks, of: n }, 'resuming download')
  }

  #fail(err: unknown): void {
    this.#done?.reject(err)
    this.#done = undefined
  }

  /** Opens sessions up to the limit, drops stalled ones, and checks for completion or no way forward. */
  #tick(): void {
    if (this.#done == null || this.#controller.signal.aborted) return
    const init = this.#init
    const now = init.clock.now()
    if (this.have?.full()) {
      this.#done.resolve()
      this.#done = undefined
      return
    }
    // stall: nothing verified for stallMs
    if (now - this.#lastProgressMs >= init.stallMs) {
      const stalled = [...this.#sessions.values()].filter((s) => now - s.lastChunkMs >= init.stallMs)
      init.onStalled(now - this.#lastProgressMs, stalled.map((s) => s.peer))
      for (const s of stalled) {
        init.breakers.failure(s.peer)
        this.#cooldown.set(s.peer, now)
        this.#closeSession(s, new StalledError(`${s.peer} sent nothing for ${init.stallMs} ms`))
      }
      this.#lastProgressMs = now
    }
    const candidates = init
      .sources()
      .filter((s) => !this.#sessions.has(s.peer) && !this.#opening.has(s.peer) && !this.#banned.has(s.peer))
      .filter((s) => now - (this.#cooldown.get(s.peer) ?? 0) >= SOURCE_COOLDOWN_MS)
      .sort((a, b) => Number(b.complete) - Number(a.complete))
    // up to maxSources complete holders, and up to as many more partial holders (a fan-out swarm trades
    // best when each receiver sees most of the others; have polling shows what each one has)
    const open = [...this.#sessions.values()]
    let completeOpen = open.filter((x) => x.complete).length + [...this.#opening].filter((p) => this.#openingComplete.get(p) === true).length
    let partialOpen = this.#sessions.size + this.#opening.size - completeOpen
    for (const pick of candidates) {
      if (pick.complete ? completeOpen >= init.maxSources : partialOpen >= Math.max(init.maxSources, MAX_PARTIAL_SESSIONS)) continue
      if (!init.breakers.allow(pick.peer)) {
        // an open breaker never shuts out the only usable holder: it is probed at a bounded rate instead
        if (!pick.complete || !this.#soleHolder(pick.peer) || !init.breakers.probe(pick.peer)) continue
        this.#saySole(pick.peer, 'its circuit breaker is open; probed as the only holder')
      }
      this.#open(pick)
      if (pick.complete) completeOpen++
      else partialOpen++
    }
    if (this.#sessions.size === 0 && this.#opening.size === 0) {
      const any = init.sources().filter((s) => !this.#banned.has(s.peer))
      // just after a (re)start no holder is known to be up yet: give health gossip a moment before giving up
      if (any.length === 0 && now - this.#startedMs >= Math.min(init.stallMs, NO_SOURCE_GRACE_MS)) {
        this.#fail(new NotFoundError(`${this.entry.path}: no reachable holder of ${this.entry.sha256.slice(0, 12)}`))
        return
      }
    }
    init.clock.setTimeout(() => this.#tick(), 250)
  }

  /** No other complete holder is usable now (each is banned, behind an open breaker, or there is none). */
  #soleHolder(peer: string): boolean {
    const { sources, breakers } = this.#init
    return !sources().some((s) => s.complete && s.peer !== peer && !this.#banned.has(s.peer) && breakers.state(s.peer) !== 'open')
  }

  #saySole(peer: string, reason: string): void {
    if (this.#soleSaid) return
    this.#soleSaid = true
    this.#init.log.warn({ peer, path: this.entry.path, reason }, 'the only holder of a file is flaky; it is kept and probed')
    this.#init.onSoleHolder?.(peer, reason)
  }

  #open(src: Source): void {
    const init = this.#init
    this.#opening.add(src.peer)
    this.#openingComplete.set(src.peer, src.complete)
    const signal = AbortSignal.any([this.#controller.signal, AbortSignal.timeout(15_000)])
    init.client
      .open(peerIdFromString(src.peer), this.entry.sha256, { priority: init.priority, copies: init.copies, signal })
      .then((session) => {
        this.#opening.delete(src.peer)
        if (this.#controller.signal.aborted || this.#done == null) {
          session.abort(new Error('download over'))
          return
        }
        const problem = metaProblem(session.meta, this.entry)
        if (problem != null) {
          this.#banned.add(src.peer)
          init.breakers.failure(src.peer)
          init.onBadMeta?.(src.peer, problem)
          session.abort(new InvalidMessageError(problem))
          return
        }
        this.#adopt(session.meta)
        const n = this.have!.length
        const s: SessionState = {
          peer: src.peer,
          session,
          complete: session.meta.complete,
          avail: session.meta.complete ? Bitfield.all(n) : new Bitfield(n),
          inflight: new Set(),
          lastChunkMs: init.clock.now(),
          bad: 0,
          lastHaveAsk: init.clock.now(),
          closed: false,
          badRun: 0,
        }
        this.#sessions.set(src.peer, s)
        this.#used.add(src.peer)
        void this.#pump(s)
      })
      .catch((err) => {
        this.#opening.delete(src.peer)
        if (this.#controller.signal.aborted) return
        init.breakers.failure(src.peer)
        this.#cooldown.set(src.peer, init.clock.now())
        // transfer.lane = only and this holder gives no working lane: not a source for this file
        if (err instanceof NotFoundError || err instanceof LaneUnavailableError) this.#banned.add(src.peer)
        init.log.debug({ peer: src.peer, path: this.entry.path, err: errorMessage(err) }, 'could not open a source')
      })
  }

  /** Takes the metadata of the first good holder: chunk hashes, bitfield, order, buffers. */
  #adopt(meta: BlobMeta): void {
    if (this.#meta != null) return
    this.#meta = meta
    this.#chunkHashes ??= meta.chunkHashes
    const n = chunkCount(meta.size, meta.chunkSize)
    this.have ??= new Bitfield(n)
    // Shuffled when others are downloading it too, so we hold different chunks to trade. A large file is
    // also shuffled in runs of a few chunks even when we see nobody else yet: receivers that start at the
    // same moment cannot see each other, and in order they would all ask the source for the same chunks.
    // (Chunks that land out of order are read back for the whole-file hash: one extra read from the cache.)
    this.#order = Array.from({ length: n }, (_, i) => i)
    const swarm = this.#init.sources().some((s) => !s.complete)
    if (swarm) shuffle(this.#order)
    else if (n >= SHUFFLE_RUNS_FROM) this.#order = shuffledRuns(n, SHUFFLE_RUN)
    // chunks in flight across all sources share one pool: bounded whatever the file size or the number of sources
    const buffers = Math.min(n, this.#init.pipeline * this.#init.maxSources + 2, MAX_POOL_BUFFERS)
    for (let i = 0; i < buffers; i++) this.#pool.push(new Uint8Array(meta.chunkSize))
  }

  async #buffer(signal: AbortSignal): Promise<Uint8Array> {
    for (;;) {
      const b = this.#pool.pop()
      if (b != null) return b
      await new Promise<void>((resolve, reject) => {
        this.#poolWaiters.push(resolve)
        signal.addEventListener('abort', () => reject(signal.reason), { once: true })
      })
    }
  }

  #release(b: Uint8Array): void {
    this.#pool.push(b)
    this.#poolWaiters.shift()?.()
  }

  /** Chunks for session `s`: not held, not in flight elsewhere (except in the endgame, when it is idle), that it has; rarest first. */
  #pick(s: SessionState, count: number): number[] {
    const have = this.have!
    const out: number[] = []
    const inflightAnywhere = new Set<number>()
    for (const x of this.#sessions.values()) for (const i of x.inflight) inflightAnywhere.add(i)
    const remaining = have.length - have.count() - this.#landing.size
    const endgame = remaining <= this.#init.pipeline * Math.max(1, this.#sessions.size)
    const partials = [...this.#sessions.values()].filter((x) => !x.complete)
    const rarity = (i: number): number => {
      let r = 0
      for (const x of partials) if (x.avail.get(i)) r++
      return r
    }
    const n = this.#order.length
    const scanLimit = Math.min(n, partials.length > 0 ? 4096 : n)
    const candidates: number[] = []
    for (let k = 0, seen = 0; k < n && seen < scanLimit; k++) {
      const i = this.#order[(this.#pickCursor + k) % n]!
      if (have.get(i) || this.#landing.has(i) || s.inflight.has(i) || !s.avail.get(i)) continue
      if (inflightAnywhere.has(i) && !endgame) continue
      seen++
      candidates.push(i)
      if (partials.length === 0 && candidates.length >= count) break
    }
    if (partials.length > 0) candidates.sort((a, b) => rarity(a) - rarity(b) || Number(inflightAnywhere.has(a)) - Number(inflightAnywhere.has(b)))
    else candidates.sort((a, b) => Number(inflightAnywhere.has(a)) - Number(inflightAnywhere.has(b)))
    // endgame: a chunk already in flight elsewhere is asked for again only by a session that has nothing
    // else to do, and only two at a time (so equally fast sources do not fetch the tail twice)
    let unique = candidates.filter((i) => !inflightAnywhere.has(i))
    // a complete holder (the source of a fan-out) is asked for chunks no partial holder we see has, so it
    // injects new chunks into the swarm instead of sending each receiver what the others already traded;
    // a chunk a partial holder has comes from the source only when this session has nothing else to do
    if (s.complete && partials.length > 0) {
      const fresh = unique.filter((i) => rarity(i) === 0)
      unique = fresh.length > 0 ? fresh : s.inflight.size === 0 ? unique.slice(0, 2) : []
    }
    const list = unique.length > 0 ? unique : s.inflight.size === 0 ? candidates.slice(0, 2) : []
    for (const i of list) {
      if (out.length >= count) break
      out.push(i)
    }
    // advance the cursor past the chunks that are done, so scans stay short
    while (this.#pickCursor < n && have.get(this.#order[this.#pickCursor]!)) this.#pickCursor++
    if (this.#pickCursor >= n) this.#pickCursor = 0
    return out
  }

  async #pump(s: SessionState): Promise<void> {
    const init = this.#init
    const signal = this.#controller.signal
    const sink = { buffer: (_i: number, _len: number, sig: AbortSignal) => this.#buffer(sig) }
    try {
      for (;;) {
        if (this.#done == null || s.closed) return
        // keep the pipeline full; a complete source shared with a swarm gets a short one, so chunks asked of it
        // show up in our bitfield soon and other receivers do not ask it for the same ones meanwhile
        let swarming = false
        if (s.complete) for (const x of this.#sessions.values()) if (!x.complete) swarming = true
        const depth = swarming ? Math.min(init.pipeline, SWARM_SOURCE_PIPELINE) : init.pipeline
        const want = depth - s.inflight.size
        if (want > 0) {
          const chunks = this.#pick(s, want)
          if (chunks.length > 0) {
            // claimed before waiting on the rate limits, so another source's pump does not pick the same chunks meanwhile
            for (const i of chunks) s.inflight.add(i)
            for (const i of chunks) {
              const len = chunkLength(this.entry.size, this.#meta!.chunkSize, i)
              await init.limiter.take(len, this.entry.sha256, init.weight, signal)
              await init.peerLimiter(s.peer).take(len, this.entry.sha256, init.weight, signal)
            }
            await s.session.request(chunks, signal)
          }
        }
        const now = init.clock.now()
        if (!s.complete && now - s.lastHaveAsk >= HAVE_POLL_MS) {
          s.lastHaveAsk = now
          await s.session.requestHave(signal)
        }
        if (s.inflight.size === 0 && s.session.outstanding.length === 0) {
          if (s.complete) {
            // nothing left for this holder to do: others hold the rest in flight
            if (this.have!.full()) return
            await init.clock.sleep(50, signal)
            continue
          }
          // a partial holder with nothing we need yet: read its answer to our have request, else wait and ask again
          if (s.session.pendingHaves === 0) {
            await init.clock.sleep(HAVE_POLL_MS, signal)
            s.lastHaveAsk = 0
            continue
          }
        }
        const ev = await s.session.next(sink, signal)
        if (ev.type === 'have') {
          s.avail = new Bitfield(this.have!.length, ev.have)
          continue
        }
        if (ev.type === 'missing') {
          s.inflight.delete(ev.index)
          s.avail.set(ev.index, false)
          continue
        }
        s.inflight.delete(ev.index)
        this.#onChunk(s, ev.index, ev.data)
      }
    } catch (err) {
      if (signal.aborted || s.closed) return
      init.breakers.failure(s.peer)
      this.#cooldown.set(s.peer, init.clock.now())
      if (err instanceof InvalidMessageError) this.#banned.add(s.peer)
      init.log.debug({ peer: s.peer, path: this.entry.path, err: errorMessage(err) }, 'source dropped')
      this.#closeSession(s, err as Error)
    }
  }

  #onChunk(s: SessionState, index: number, data: Uint8Array): void {
    const init = this.#init
    const now = init.clock.now()
    this.#bytesReceived += data.byteLength
    this.#rateWindow.push({ t: now, bytes: data.byteLength })
    const expected = this.#chunkHashes!.subarray(index * 32, index * 32 + 32)
    const actual = createHash('sha256').update(data).digest()
    // pool buffers are whole ArrayBuffers of one chunk size: this is the buffer that was lent
    const full = new Uint8Array(data.buffer, 0, this.#meta!.chunkSize)
    if (!actual.equals(expected)) {
      this.#release(full)
      this.#badChunks++
      s.bad++
      s.badRun++
      init.onBadChunk(s.peer, index)
      init.breakers.failure(s.peer)
      if (s.complete && this.#soleHolder(s.peer)) {
        // the only holder: what it verified is kept, the bad chunk is asked for again; it is dropped only
        // for a cooldown after a run of bad chunks (then probed again), never for the rest of the download
        this.#saySole(s.peer, s.bad === 1 ? 'it sent a chunk that failed its hash' : `it sent ${s.bad} chunks that failed their hash`)
        if (s.badRun >= MAX_BAD_CHUNKS) {
          this.#cooldown.set(s.peer, now)
          this.#closeSession(s, new InvalidMessageError(`${s.peer} sent ${s.badRun} chunks in a row that failed their hash`))
        }
        return
      }
      if (s.bad >= MAX_BAD_CHUNKS) {
        this.#banned.add(s.peer)
        this.#closeSession(s, new InvalidMessageError(`${s.peer} sent ${s.bad} chunks that failed their hash`))
      }
      return
    }
    s.badRun = 0
    s.lastChunkMs = now
    this.#lastProgressMs = now
    init.breakers.success(s.peer)
    if (this.have!.get(index) || this.#landing.has(index)) {
      // a duplicate from the endgame
      this.#release(full)
      return
    }
    // claim it now so it is neither asked for again nor written twice
    this.#landing.add(index)
    const write = this.#write(index, data, full)
    this.#writes.add(write)
    void write.finally(() => this.#writes.delete(write))
  }

  async #write(index: number, data: Uint8Array, full: Uint8Array): Promise<void> {
    const cs = this.#meta!.chunkSize
    try {
      if (this.have!.get(index)) return
      let off = 0
      while (off < data.byteLength) {
        const { bytesWritten } = await this.#fh!.write(data, off, data.byteLength - off, index * cs + off)
        off += bytesWritten
      }
      if (this.have!.get(index)) return
      this.have!.set(index)
      this.#unsaved++
      // whole-file hash, in order, straight from memory when this is the next chunk
      if (index === this.#hashCursor && this.#catchingUp == null) {
        this.#hashInOrder(data)
        this.#hashCursor++
      }
      // in the background; a failed read back (the staging file closed under it when the download ended
      // early, e.g. its source was killed) fails this download, never the process as an unhandled rejection
      if (this.have!.get(this.#hashCursor) && this.#catchingUp == null) this.#catchUp().catch((err) => this.#fail(err))
      this.#persist(false)
      this.#init.onProgress?.(this.progress())
      if (this.have!.full()) this.#tick()
    } catch (err) {
      this.#fail(err)
    } finally {
      this.#landing.delete(index)
      this.#release(full)
    }
  }

  /** The next bytes of the file, in order: the whole-file SHA-256, and the SHA-1 pieces when asked for. */
  #hashInOrder(view: Uint8Array): void {
    this.#whole.update(view)
    this.#pieces?.update(view)
  }

  /** Feeds the whole-file hash with chunks that landed out of order, reading them back. */
  #catchUp(): Promise<void> {
    if (this.#catchingUp != null) return this.#catchingUp
    if (this.#meta == null) return Promise.resolve()
    const cs = this.#meta.chunkSize
    const run = async (): Promise<void> => {
      const buf = Buffer.allocUnsafe(cs)
      while (this.#hashCursor < this.have!.length && this.have!.get(this.#hashCursor)) {
        const i = this.#hashCursor
        const len = chunkLength(this.entry.size, cs, i)
        const { bytesRead } = await this.#fh!.read(buf, 0, len, i * cs)
        if (bytesRead !== len) throw new Error(`short read of chunk ${i} from staging`)
        this.#hashInOrder(buf.subarray(0, len))
        this.#hashCursor++
      }
    }
    this.#catchingUp = run().finally(() => {
      this.#catchingUp = undefined
    })
    return this.#catchingUp
  }

  #persist(force: boolean): void {
    if (this.#unsaved === 0 || this.have == null || this.#chunkHashes == null) return
    const now = this.#init.clock.now()
    if (!force && now - this.#lastPersist < PERSIST_MS && this.#unsaved < this.#init.pipeline) return
    this.#lastPersist = now
    this.#unsaved = 0
    this.#init.persist(this.have.bytes, this.#chunkHashes)
  }

  #closeSession(s: SessionState, err: Error | undefined): void {
    if (s.closed) return
    s.closed = true
    this.#sessions.delete(s.peer)
    s.inflight.clear()
    if (err != null || this.#controller.signal.aborted) s.session.abort(err ?? new Error('download over'))
    else void s.session.close()
  }
}

/** 0..n-1 as runs of `run` consecutive chunks, the runs in random order. */
function shuffledRuns(n: number, run: number): number[] {
  const starts = Array.from({ length: Math.ceil(n / run) }, (_, k) => k * run)
  shuffle(starts)
  const out: number[] = []
  for (const s of starts) for (let i = s; i < Math.min(n, s + run); i++) out.push(i)
  return out
}

function shuffle<T>(a: T[]): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[a[i], a[j]] = [a[j]!, a[i]!]
  }
}

export function isRetryable(err: unknown): boolean {
  return !isAbort(err)
}
