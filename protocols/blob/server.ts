import type { Connection, Startable, Stream } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'
import { BusyError, InvalidMessageError, NotFoundError, OverLimitError, StreamEndedError } from '../../src/util/errors.js'
import { chunkCount, chunkLength } from './chunks.js'
import { decodeRequest, encodeResponse, Status, type BlobMeta, type BlobRequest } from './codec.js'
import { BLOB_PROTOCOL, MAX_OUTSTANDING, MAX_OUTSTANDING_QUERIES, MAX_REQUEST_BYTES, RESPONSE_TIMEOUT_MS, type WirePriority } from './constants.js'
import type { LaneOffer } from './lane/wire.js'
import { StreamReader, StreamWriter } from './stream-io.js'

export interface ServeContext {
  peer: string
  priority: WirePriority
  copies: number
  signal: AbortSignal
}

/** One file being served on one stream. */
export interface BlobHandle {
  meta(): BlobMeta
  has(index: number): boolean
  have(): Uint8Array
  /** The bytes of chunk `index` (the provider may re-verify them). */
  read(index: number, signal: AbortSignal): Promise<Uint8Array>
  /** Waits for the upload rate limits before `bytes` go out. */
  pace(bytes: number, signal: AbortSignal): Promise<void>
  /** Called once, when the stream ends. */
  close(bytesSent: number, error?: unknown): void
}

/** What the node gives the protocol: files by hash, complete or partial. */
export interface BlobProvider {
  /** undefined = not held; throws BusyError when at capacity. */
  open(sha256: string, ctx: ServeContext): Promise<BlobHandle | undefined>
}

export interface BlobServerInit {
  provider: BlobProvider
  onInvalid?(peer: string, err: Error): void
  maxInboundStreams?: number
  /** The bulk lane (SPEC.md, Bulk data lane): a one-time offer for this stream's handle, or undefined (off). */
  lane?: { offer(peer: string, sha256: string, handle: BlobHandle, signal: AbortSignal, onChunk: (bytes: number) => void): LaneOffer | undefined }
}

export interface BlobServerComponents {
  registrar: Registrar
}

type Op = { type: 'meta' } | { type: 'have' } | { type: 'chunk'; index: number }

/**
 * The holder's side of /meshsync/blob/1.0.0: answers requests in order,
 * reading a chunk ahead while the previous one is sent, paced by the
 * provider's rate limits. A bad request gets a typed error; the server
 * carries on with other streams.
 */
export class BlobServer implements Startable {
  readonly #c: BlobServerComponents
  readonly #init: BlobServerInit
  /** Streams served since start, for tests and metrics. */
  readonly stats = { streams: 0, errors: 0, chunks: 0, laneChunks: 0 }

  constructor(components: BlobServerComponents, init: BlobServerInit) {
    this.#c = components
    this.#init = init
  }

  async start(): Promise<void> {
    await this.#c.registrar.handle(BLOB_PROTOCOL, (s, c) => this.#serve(s, c), { maxInboundStreams: this.#init.maxInboundStreams ?? 64 })
  }

  async stop(): Promise<void> {
    await this.#c.registrar.unhandle(BLOB_PROTOCOL)
  }

  async #serve(stream: Stream, connection: Connection): Promise<void> {
    this.stats.streams++
    const peer = connection.remotePeer.toString()
    const controller = new AbortController()
    stream.addEventListener('close', () => controller.abort(new Error('stream closed')))
    const signal = controller.signal
    const reader = new StreamReader(stream, { highWater: 64 * 1024 })
    const writer = new StreamWriter(stream)
    let handle: BlobHandle | undefined
    let failure: unknown
    let laneOffer: LaneOffer | undefined
    let laneSent = 0
    const fail = async (status: Status, message: string): Promise<void> => {
      this.stats.errors++
      await writer.message(encodeResponse({ type: 'error', status, message }), signal).catch(() => {})
      await stream.close({ signal: AbortSignal.timeout(5000) }).catch(() => stream.abort(new Error(message)))
    }
    try {
      let first: BlobRequest
      try {
        first = decodeRequest(await reader.message(MAX_REQUEST_BYTES, AbortSignal.any([signal, AbortSignal.timeout(RESPONSE_TIMEOUT_MS)])))
      } catch (err) {
        if (err instanceof InvalidMessageError || err instanceof OverLimitError) {
          this.#init.onInvalid?.(peer, err)
          await fail(err instanceof OverLimitError ? Status.OVER_LIMIT : Status.BAD_REQUEST, err.message)
        } else if (err instanceof StreamEndedError) {
          // the receiver asked for nothing and closed (or reset) its side: close ours, no violation
          await stream.close({ signal: AbortSignal.timeout(5000) }).catch(() => stream.abort(err))
        } else stream.abort(err as Error)
        return
      }
      if (first.sha256 == null) {
        await fail(Status.BAD_REQUEST, 'the first request must name the file (sha256)')
        return
      }
      try {
        handle = await this.#init.provider.open(first.sha256, { peer, priority: first.priority ?? 'normal', copies: first.copies ?? 0, signal })
      } catch (err) {
        if (err instanceof BusyError) await fail(Status.BUSY, err.message)
        else await fail(Status.INTERNAL, (err as Error).message)
        return
      }
      if (handle == null) {
        await fail(Status.NOT_FOUND, `no verified copy of ${first.sha256}`)
        return
      }
      const h = handle
      const meta = h.meta()
      // a lane only for a complete copy: a partial holder's have polling stays on the stream
      if (first.lane === true && meta.complete && first.meta === true) {
        // chunks served over the lane count as this stream's (stats.chunks includes them)
        laneOffer = this.#init.lane?.offer(peer, first.sha256, h, signal, (bytes) => {
          laneSent += bytes
          this.stats.chunks++
          this.stats.laneChunks++
        })
      }
      const nChunks = chunkCount(meta.size, meta.chunkSize)
      const ops: Op[] = []
      let readerDone = false
      let wake: (() => void) | undefined
      const push = (req: BlobRequest): void => {
        if (req.meta === true) ops.push({ type: 'meta' })
        if (req.have === true) ops.push({ type: 'have' })
        const indices = req.chunks ?? []
        if (req.range != null) {
          const { offset, length } = req.range
          if (length > 0 && offset < meta.size) {
            const first = Math.floor(offset / meta.chunkSize)
            const last = Math.min(nChunks - 1, Math.floor((Math.min(meta.size, offset + length) - 1) / meta.chunkSize))
            for (let i = first; i <= last; i++) indices.push(i)
          }
        }
        for (const i of indices) {
          if (!Number.isInteger(i) || i < 0 || i >= nChunks) throw new InvalidMessageError(`chunk ${i} out of range 0..${nChunks - 1}`)
          ops.push({ type: 'chunk', index: i })
        }
        const chunks = ops.filter((o) => o.type === 'chunk').length
        if (chunks > MAX_OUTSTANDING) throw new OverLimitError(`more than ${MAX_OUTSTANDING} chunks outstanding`)
        if (ops.length - chunks > MAX_OUTSTANDING_QUERIES) throw new OverLimitError(`more than ${MAX_OUTSTANDING_QUERIES} meta/have requests outstanding`)
        wake?.()
      }
      push(first)
      // requests keep coming while we answer
      let readFailure: unknown
      void (async () => {
        try {
          for (;;) {
            const msg = await reader.next(MAX_REQUEST_BYTES, signal)
            if (msg == null) break
            push(decodeRequest(msg))
          }
        } catch (err) {
          // recorded before the answering loop wakes, so a bad request gets its typed error, not a clean close
          readFailure = err
        } finally {
          readerDone = true
          wake?.()
        }
      })()

      let ahead: { index: number; data: Promise<Uint8Array> } | undefined
      const readChunk = (index: number) => {
        const data = h.read(index, signal)
        data.catch(() => {}) // awaited below
        return { index, data }
      }
      for (;;) {
        if (readFailure != null) throw readFailure
        const op = ops.shift()
        if (op == null) {
          if (readerDone) break
          await new Promise<void>((resolve) => {
            wake = resolve
          })
          wake = undefined
          continue
        }
        if (op.type === 'meta') {
          await writer.message(encodeResponse({ type: 'meta', meta: h.meta(), lane: laneOffer }), signal)
          laneOffer = undefined
        } else if (op.type === 'have') {
          await writer.message(encodeResponse({ type: 'have', have: h.have() }), signal)
        } else if (!h.has(op.index)) {
          await writer.message(encodeResponse({ type: 'missing', index: op.index }), signal)
        } else {
          const current = ahead?.index === op.index ? ahead : readChunk(op.index)
          ahead = undefined
          const next = ops.find((o) => o.type === 'chunk')
          if (next?.type === 'chunk' && h.has(next.index)) ahead = readChunk(next.index)
          const data = await current.data
          const len = chunkLength(meta.size, meta.chunkSize, op.index)
          if (data.byteLength !== len) throw new Error(`read ${data.byteLength} bytes of chunk ${op.index}, expected ${len}`)
          await h.pace(len, signal)
          await writer.message(encodeResponse({ type: 'chunk', index: op.index, length: len }), signal)
          await writer.raw(data, signal)
          this.stats.chunks++
        }
      }
      await stream.close({ signal: AbortSignal.timeout(RESPONSE_TIMEOUT_MS) })
    } catch (err) {
      failure = err
      if (err instanceof InvalidMessageError || err instanceof OverLimitError) {
        this.#init.onInvalid?.(peer, err)
        await fail(err instanceof OverLimitError ? Status.OVER_LIMIT : Status.BAD_REQUEST, err.message)
      } else if (err instanceof NotFoundError) {
        await fail(Status.NOT_FOUND, err.message)
      } else if (err instanceof StreamEndedError) {
        // the receiver reset the stream part-way through a request: it called the exchange off
        stream.abort(err)
      } else if (!signal.aborted) {
        await fail(Status.INTERNAL, (err as Error).message ?? String(err))
      } else {
        stream.abort(err as Error)
      }
    } finally {
      handle?.close(writer.sent + laneSent, failure)
    }
  }
}

export function blobServer(init: BlobServerInit): (components: BlobServerComponents) => BlobServer {
  return (components) => new BlobServer(components, init)
}
