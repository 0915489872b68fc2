import type { Socket } from 'node:net'
import { InvalidMessageError, StreamEndedError } from '../../../src/util/errors.js'

/** The lane hello: magic, the 32-byte one-time token, the 32-byte SHA-256 of the file (SPEC.md, Bulk data lane). */
export const LANE_MAGIC = Buffer.from('MSL1')
export const LANE_HELLO_BYTES = LANE_MAGIC.byteLength + 32 + 32
export const LANE_TOKEN_BYTES = 32
export const LANE_FINGERPRINT_BYTES = 32
/** How long an offered token can be redeemed. */
export const LANE_TOKEN_TTL_MS = 10_000
/** A lane connection must finish its TLS handshake and hello within this long. */
export const LANE_HELLO_TIMEOUT_MS = 5000
/** Lane connections a holder keeps at once (handshaking or serving). */
export const LANE_MAX_CONNECTIONS = 64
/** How long an ended lane waits for the peer to close its side before it is destroyed. */
export const LANE_LINGER_MS = 1000
/** Chunk header: kind (1) | index (4) | length (4). */
export const LANE_HEADER_BYTES = 9
export const LANE_KIND_CHUNK = 0
export const LANE_KIND_MISSING = 1
/** The largest chunk the blob protocol has (chunks.ts: at most 64 MiB). */
export const LANE_MAX_CHUNK = 64 * 1024 * 1024

export const HelloStatus = { OK: 0, BAD_TOKEN: 1, EXPIRED: 2, BUSY: 3 } as const

export interface LaneOffer {
  port: number
  /** SHA-256 of the certificate's DER. */
  fingerprint: Uint8Array
  token: Uint8Array
  ttlMs: number
}

export function encodeHello(token: Uint8Array, sha256: string): Buffer {
  return Buffer.concat([LANE_MAGIC, token, Buffer.from(sha256, 'hex')])
}

export function encodeHeader(kind: number, index: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(LANE_HEADER_BYTES)
  b.writeUInt8(kind, 0)
  b.writeUInt32BE(index, 1)
  b.writeUInt32BE(length, 5)
  return b
}

/**
 * Reads exact byte counts from a node socket with backpressure: the socket
 * is paused while more than `highWater` bytes wait unread.
 */
export class SocketReader {
  readonly #socket: Socket
  readonly #chunks: Buffer[] = []
  #buffered = 0
  readonly #high: number
  #ended = false
  #error: Error | undefined
  #waiter: (() => void) | undefined
  received = 0

  constructor(socket: Socket, highWater = 4 * 1024 * 1024) {
    this.#socket = socket
    this.#high = highWater
    socket.on('data', (d: Buffer) => {
      this.#chunks.push(d)
      this.#buffered += d.byteLength
      this.received += d.byteLength
      if (this.#buffered >= this.#high) socket.pause()
      this.#wake()
    })
    socket.on('end', () => {
      this.#ended = true
      this.#wake()
    })
    socket.on('close', () => {
      this.#ended = true
      this.#wake()
    })
    socket.on('error', (err) => {
      this.#error ??= err
      this.#ended = true
      this.#wake()
    })
  }

  #wake(): void {
    const w = this.#waiter
    this.#waiter = undefined
    w?.()
  }

  async #need(n: number, signal: AbortSignal, what: string): Promise<void> {
    for (;;) {
      signal.throwIfAborted()
      if (this.#buffered >= n) return
      if (this.#ended) {
        if (this.#error != null) throw new StreamEndedError(`lane ${what}: ${this.#error.message}`)
        throw new StreamEndedError(`lane ended ${this.#buffered} bytes into a ${n}-byte ${what}`)
      }
      if (this.#socket.isPaused()) this.#socket.resume()
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(signal.reason)
        signal.addEventListener('abort', onAbort, { once: true })
        this.#waiter = () => {
          signal.removeEventListener('abort', onAbort)
          resolve()
        }
      })
    }
  }

  /** Copies the next `len` bytes into `dest` (from offset 0). */
  async readInto(dest: Uint8Array, len: number, signal: AbortSignal, what = 'frame'): Promise<void> {
    if (len > dest.byteLength) throw new InvalidMessageError(`lane ${what} of ${len} bytes does not fit its buffer`)
    let off = 0
    while (off < len) {
      await this.#need(1, signal, what)
      const c = this.#chunks[0]!
      const take = Math.min(c.byteLength, len - off)
      dest.set(c.subarray(0, take), off)
      off += take
      this.#buffered -= take
      if (take === c.byteLength) this.#chunks.shift()
      else this.#chunks[0] = c.subarray(take)
    }
    if (this.#buffered < this.#high / 4 && this.#socket.isPaused() && !this.#ended) this.#socket.resume()
  }

  async read(len: number, signal: AbortSignal, what = 'frame'): Promise<Buffer> {
    const b = Buffer.allocUnsafe(len)
    await this.readInto(b, len, signal, what)
    return b
  }
}

/** Writes with backpressure: waits for 'drain' when the socket's buffer is full. */
export async function writeAll(socket: Socket, data: Uint8Array, signal: AbortSignal): Promise<void> {
  if (socket.destroyed) throw new StreamEndedError('lane closed')
  if (socket.write(data)) return
  await new Promise<void>((resolve, reject) => {
    const done = (err?: unknown): void => {
      socket.off('drain', onDrain)
      socket.off('close', onClose)
      signal.removeEventListener('abort', onAbort)
      if (err != null) reject(err)
      else resolve()
    }
    const onDrain = (): void => done()
    const onClose = (): void => done(new StreamEndedError('lane closed while sending'))
    const onAbort = (): void => done(signal.reason)
    socket.on('drain', onDrain)
    socket.on('close', onClose)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
