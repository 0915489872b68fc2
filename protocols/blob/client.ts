import type { PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import { BusyError, InternalError, InvalidMessageError, NotFoundError, OverLimitError } from '../../src/util/errors.js'
import { chunkCount, chunkLength } from './chunks.js'
import { decodeResponse, encodeRequest, Status, type BlobMeta, type BlobResponse } from './codec.js'
import { BLOB_PROTOCOL, MAX_META_BYTES, type WirePriority } from './constants.js'
import { connectLane, ipOfAddr, type LaneConnection, LaneUnavailableError } from './lane/client.js'
import { StreamReader, StreamWriter } from './stream-io.js'

/** Where the bytes of an incoming chunk go: the receiver lends a buffer and gets it back filled. */
export interface ChunkSink {
  /** A buffer of at least `length` bytes for chunk `index` (may wait: that is backpressure). */
  buffer(index: number, length: number, signal: AbortSignal): Promise<Uint8Array>
}

export type SessionEvent =
  | { type: 'chunk'; index: number; data: Uint8Array }
  | { type: 'have'; have: Uint8Array }
  | { type: 'missing'; index: number }

const HEADER_MAX = 1024

/** How a session may use the bulk lane (SPEC.md, Bulk data lane). */
export interface LaneUse {
  /** auto: use an offered lane, else the stream; only: a source without a working lane is not used. */
  mode: 'auto' | 'only'
  /** The lane could not be opened, or broke: the session carries on over the stream (auto). */
  onFallback(peer: string, sha256: string, reason: string, message: string): void
}

export interface OpenOptions {
  priority: WirePriority
  copies: number
  signal: AbortSignal
  lane?: LaneUse
}

/** Maps an error status from a holder to the typed error. */
export function statusError(status: Status, message: string, peer: string): Error {
  const m = `${peer}: ${message}`
  switch (status) {
    case Status.NOT_FOUND:
      return new NotFoundError(m)
    case Status.BUSY:
      return new BusyError(m)
    case Status.OVER_LIMIT:
      return new OverLimitError(m)
    case Status.BAD_REQUEST:
      return new InvalidMessageError(m)
    default:
      return new InternalError(m)
  }
}

/**
 * One stream to one holder for one file. The caller asks for metadata, then
 * requests chunks ahead and pulls responses one at a time; each response is
 * checked against what was asked (order, index, length) before its bytes are
 * read, and the bytes go straight into a buffer the caller lends.
 */
export class BlobSession {
  readonly peer: string
  readonly #stream: Stream
  readonly #reader: StreamReader
  readonly #writer: StreamWriter
  readonly sha256: string
  #meta: BlobMeta | undefined
  /** Chunk indices asked for and not yet answered, in order. */
  readonly outstanding: number[] = []
  #haveAsked = 0
  #lane: LaneConnection | undefined
  #laneUse: LaneUse | undefined
  /** A pool buffer taken for a chunk the lane broke off in: used for the next chunk. */
  #spare: Uint8Array | undefined
  /** Chunks that came over the lane. */
  laneChunks = 0
  onLaneChunk: (() => void) | undefined

  private constructor(peer: string, stream: Stream, sha256: string) {
    this.peer = peer
    this.#stream = stream
    this.sha256 = sha256
    this.#reader = new StreamReader(stream, { highWater: 2 * 1024 * 1024 })
    this.#writer = new StreamWriter(stream)
  }

  static async open(cm: ConnectionManager, peer: PeerId, sha256: string, opts: OpenOptions): Promise<BlobSession> {
    const stream = await cm.openStream(peer, BLOB_PROTOCOL, { signal: opts.signal })
    const s = new BlobSession(peer.toString(), stream, sha256)
    try {
      await s.#writer.message(encodeRequest({ sha256, meta: true, have: true, priority: opts.priority, copies: opts.copies, lane: opts.lane != null }), opts.signal)
      s.#haveAsked++
      const r = await s.#response(MAX_META_BYTES, opts.signal)
      if (r.type !== 'meta') throw new InvalidMessageError(`${s.peer}: expected metadata, got ${r.type}`)
      s.#meta = r.meta
      const use = opts.lane
      // a partial holder never offers a lane (its have polling stays on the stream): no fallback to report
      if (use != null && (r.lane != null || r.meta.complete || use.mode === 'only')) {
        s.#laneUse = use
        try {
          if (r.lane == null) throw new LaneUnavailableError('not-offered', `${s.peer} offered no lane for ${sha256.slice(0, 12)}`)
          // the IP this stream's connection reaches, never a host the holder names
          const conn = cm.getConnections(peer).find((c) => c.status === 'open' && ipOfAddr(c.remoteAddr.toString()) != null)
          const host = conn != null ? ipOfAddr(conn.remoteAddr.toString()) : undefined
          if (host == null) throw new LaneUnavailableError('no-address', `no direct IP connection to ${s.peer} to reach its lane`)
          s.#lane = await connectLane(host, r.lane, sha256, opts.signal)
        } catch (err) {
          if (!(err instanceof LaneUnavailableError)) throw err
          if (use.mode === 'only') throw err
          use.onFallback(s.peer, sha256, err.reason, err.message)
        }
      }
      return s
    } catch (err) {
      s.abort(err as Error)
      throw err
    }
  }

  get meta(): BlobMeta {
    return this.#meta!
  }

  /** `have` requests not yet answered. */
  get pendingHaves(): number {
    return this.#haveAsked
  }

  /** Bytes received on this stream (and its lane) so far. */
  get received(): number {
    return this.#reader.received + (this.#lane?.received ?? 0)
  }

  /** Chunk bytes travel over a lane now. */
  get viaLane(): boolean {
    return this.#lane != null
  }

  async request(chunks: number[], signal: AbortSignal): Promise<void> {
    if (chunks.length === 0) return
    this.outstanding.push(...chunks)
    if (this.#lane != null) {
      try {
        await this.#lane.request(chunks, signal)
        return
      } catch (err) {
        if (signal.aborted) throw err
        // everything outstanding is asked again over the stream, in order
        await this.#laneBroke(err as Error, signal)
        return
      }
    }
    await this.#writer.message(encodeRequest({ chunks }), signal)
  }

  /** The lane failed (cut, reset, timed out): drop it and ask for what it owed over the stream. */
  async #laneBroke(err: Error, signal: AbortSignal): Promise<void> {
    const lane = this.#lane
    if (lane == null) return
    this.#lane = undefined
    lane.destroy()
    if (this.#laneUse?.mode === 'only') throw new LaneUnavailableError('cut', `lane to ${this.peer} broke: ${err.message}`, { cause: err })
    this.#laneUse?.onFallback(this.peer, this.sha256, 'cut', `lane to ${this.peer} broke: ${err.message}`)
    for (let k = 0; k < this.outstanding.length; k += 1024) {
      await this.#writer.message(encodeRequest({ chunks: this.outstanding.slice(k, k + 1024) }), signal)
    }
  }

  /** The next chunk or missing frame from the lane. */
  async #nextFromLane(lane: LaneConnection, sink: ChunkSink, signal: AbortSignal): Promise<SessionEvent | undefined> {
    const meta = this.meta
    let buf: Uint8Array | undefined
    try {
      const f = await lane.header(signal)
      const expected = this.outstanding[0]
      if (expected !== f.index) throw new InvalidMessageError(`${this.peer}: lane answered chunk ${f.index}, expected ${expected ?? 'none'}`)
      if (f.kind === 'missing') {
        this.outstanding.shift()
        return { type: 'missing', index: f.index }
      }
      const len = chunkLength(meta.size, meta.chunkSize, f.index)
      if (f.length !== len) throw new InvalidMessageError(`${this.peer}: lane chunk ${f.index} is ${f.length} bytes, expected ${len}`)
      buf = this.#spare ?? (await sink.buffer(f.index, len, signal))
      this.#spare = undefined
      await lane.body(buf, len, signal)
      this.outstanding.shift()
      this.laneChunks++
      this.onLaneChunk?.()
      return { type: 'chunk', index: f.index, data: buf.subarray(0, len) }
    } catch (err) {
      if (err instanceof InvalidMessageError || signal.aborted) throw err
      if (buf != null) this.#spare = buf
      await this.#laneBroke(err as Error, signal)
      return undefined
    }
  }

  async requestHave(signal: AbortSignal): Promise<void> {
    this.#haveAsked++
    await this.#writer.message(encodeRequest({ have: true }), signal)
  }

  /** The next response. Chunk bytes are read into `sink`'s buffer. */
  async next(sink: ChunkSink, signal: AbortSignal): Promise<SessionEvent> {
    // have answers come over the stream, promptly; chunks over the lane while it holds
    if (this.#lane != null && this.#haveAsked === 0) {
      const ev = await this.#nextFromLane(this.#lane, sink, signal)
      if (ev != null) return ev
    }
    const r = await this.#response(HEADER_MAX, signal)
    const meta = this.meta
    switch (r.type) {
      case 'have': {
        if (this.#haveAsked === 0) throw new InvalidMessageError(`${this.peer}: unrequested have`)
        this.#haveAsked--
        if (r.have.byteLength !== Math.ceil(chunkCount(meta.size, meta.chunkSize) / 8)) throw new InvalidMessageError(`${this.peer}: have bitfield of wrong length`)
        return r
      }
      case 'missing':
      case 'chunk': {
        const expected = this.outstanding[0]
        if (expected !== r.index) throw new InvalidMessageError(`${this.peer}: answered chunk ${r.index}, expected ${expected ?? 'none'}`)
        this.outstanding.shift()
        if (r.type === 'missing') return r
        const len = chunkLength(meta.size, meta.chunkSize, r.index)
        if (r.length !== len) throw new InvalidMessageError(`${this.peer}: chunk ${r.index} is ${r.length} bytes, expected ${len}`)
        const buf = this.#spare ?? (await sink.buffer(r.index, len, signal))
        this.#spare = undefined
        await this.#reader.rawInto(buf, len, signal)
        return { type: 'chunk', index: r.index, data: buf.subarray(0, len) }
      }
      default:
        throw new InvalidMessageError(`${this.peer}: unexpected ${r.type}`)
    }
  }

  async #response(max: number, signal: AbortSignal): Promise<BlobResponse> {
    const r = decodeResponse(await this.#reader.message(max, signal))
    if (r.type === 'error') throw statusError(r.status, r.message, this.peer)
    return r
  }

  /** Ends the session politely (the holder finishes what it was asked, then closes). */
  async close(): Promise<void> {
    this.#lane?.close()
    await this.#stream.close({ signal: AbortSignal.timeout(5000) }).catch(() => this.#stream.abort(new Error('close timed out')))
  }

  abort(err: Error): void {
    this.#lane?.destroy()
    this.#stream.abort(err)
  }
}

export interface BlobClientComponents {
  connectionManager: ConnectionManager
}

export interface BlobClientInit {
  /** Lane use for sessions opened without their own `lane` option (read at each open). */
  lane?: () => LaneUse | undefined
  /** Milliseconds now (the node's Clock); default Date.now. */
  now?: () => number
}

/** After a lane connect timed out (a firewall that drops packets), sessions to that holder skip the lane this long (auto mode). */
export const LANE_TIMEOUT_MEMORY_MS = 60_000

/** Opens blob sessions; a libp2p service so it gets the connection manager. */
export class BlobClient implements Startable {
  readonly #c: BlobClientComponents
  readonly #init: BlobClientInit
  /** Sessions whose chunks went over a lane, and lane chunks received (tests, metrics). */
  readonly stats = { laneSessions: 0, laneChunks: 0 }
  /** Holders whose lane connect timed out, and when. */
  readonly #laneTimedOut = new Map<string, number>()

  constructor(components: BlobClientComponents, init: BlobClientInit = {}) {
    this.#c = components
    this.#init = init
  }

  start(): void {}
  stop(): void {}

  async open(peer: PeerId, sha256: string, opts: OpenOptions): Promise<BlobSession> {
    const id = peer.toString()
    const now = this.#init.now ?? Date.now
    let lane = opts.lane ?? this.#init.lane?.()
    const timedOut = this.#laneTimedOut.get(id)
    if (timedOut != null && now() - timedOut >= LANE_TIMEOUT_MEMORY_MS) this.#laneTimedOut.delete(id)
    // a lane that timed out lately would cost every session its connect timeout again: straight to the stream
    if (lane?.mode === 'auto' && this.#laneTimedOut.has(id)) lane = undefined
    if (lane != null) {
      const use = lane
      lane = {
        mode: use.mode,
        onFallback: (p, sha, reason, message) => {
          if (reason === 'timeout') this.#laneTimedOut.set(id, now())
          use.onFallback(p, sha, reason, message)
        },
      }
    }
    const s = await BlobSession.open(this.#c.connectionManager, peer, sha256, { ...opts, lane })
    if (s.viaLane) this.stats.laneSessions++
    s.onLaneChunk = () => {
      this.stats.laneChunks++
    }
    return s
  }
}

export function blobClient(init: BlobClientInit = {}): (components: BlobClientComponents) => BlobClient {
  return (components) => new BlobClient(components, init)
}
