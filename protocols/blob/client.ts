import type { PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import { BusyError, InternalError, InvalidMessageError, NotFoundError, OverLimitError } from '../../src/util/errors.js'
import { chunkCount, chunkLength } from './chunks.js'
import { decodeResponse, encodeRequest, Status, type BlobMeta, type BlobResponse } from './codec.js'
import { BLOB_PROTOCOL, MAX_META_BYTES, type WirePriority } from './constants.js'
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

  private constructor(peer: string, stream: Stream, sha256: string) {
    this.peer = peer
    this.#stream = stream
    this.sha256 = sha256
    this.#reader = new StreamReader(stream, { highWater: 2 * 1024 * 1024 })
    this.#writer = new StreamWriter(stream)
  }

  static async open(cm: ConnectionManager, peer: PeerId, sha256: string, opts: { priority: WirePriority; copies: number; signal: AbortSignal }): Promise<BlobSession> {
    const stream = await cm.openStream(peer, BLOB_PROTOCOL, { signal: opts.signal })
    const s = new BlobSession(peer.toString(), stream, sha256)
    try {
      await s.#writer.message(encodeRequest({ sha256, meta: true, have: true, priority: opts.priority, copies: opts.copies }), opts.signal)
      s.#haveAsked++
      const r = await s.#response(MAX_META_BYTES, opts.signal)
      if (r.type !== 'meta') throw new InvalidMessageError(`${s.peer}: expected metadata, got ${r.type}`)
      s.#meta = r.meta
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

  /** Bytes received on this stream so far. */
  get received(): number {
    return this.#reader.received
  }

  async request(chunks: number[], signal: AbortSignal): Promise<void> {
    if (chunks.length === 0) return
    this.outstanding.push(...chunks)
    await this.#writer.message(encodeRequest({ chunks }), signal)
  }

  async requestHave(signal: AbortSignal): Promise<void> {
    this.#haveAsked++
    await this.#writer.message(encodeRequest({ have: true }), signal)
  }

  /** The next response. Chunk bytes are read into `sink`'s buffer. */
  async next(sink: ChunkSink, signal: AbortSignal): Promise<SessionEvent> {
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
        const buf = await sink.buffer(r.index, len, signal)
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
    await this.#stream.close({ signal: AbortSignal.timeout(5000) }).catch(() => this.#stream.abort(new Error('close timed out')))
  }

  abort(err: Error): void {
    this.#stream.abort(err)
  }
}

export interface BlobClientComponents {
  connectionManager: ConnectionManager
}

/** Opens blob sessions; a libp2p service so it gets the connection manager. */
export class BlobClient implements Startable {
  readonly #c: BlobClientComponents

  constructor(components: BlobClientComponents) {
    this.#c = components
  }

  start(): void {}
  stop(): void {}

  open(peer: PeerId, sha256: string, opts: { priority: WirePriority; copies: number; signal: AbortSignal }): Promise<BlobSession> {
    return BlobSession.open(this.#c.connectionManager, peer, sha256, opts)
  }
}

export function blobClient(): (components: BlobClientComponents) => BlobClient {
  return (components) => new BlobClient(components)
}
