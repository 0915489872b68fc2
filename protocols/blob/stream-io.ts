import type { Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { InvalidMessageError, OverLimitError, StreamEndedError } from '../../src/util/errors.js'

/**
 * Reading and writing a libp2p 3 stream with backpressure, written against
 * what the stream really does (docs/research/libp2p-throughput.md):
 *
 * - bytes are taken from 'message' events into our own buffer; above the
 *   high-water mark the stream is paused (yamux then stops granting window),
 *   and resumed only once our buffer is below the low-water mark;
 * - a pause asked for while resume() re-delivers buffered bytes is applied
 *   after resume() returns (a pause inside it would be silently undone);
 * - leftovers are never pushed back into the stream (each resume re-opens a
 *   whole window);
 * - the end is the byte count the protocol frames, not the remote's close;
 * - an end (clean or reset) between messages is a StreamEndedError, never a
 *   protocol violation; only a message cut off part-way by a clean end is an
 *   InvalidMessageError (a reset part-way is the remote calling it off).
 */
export class StreamReader {
  readonly #stream: Stream
  readonly #buf = new Uint8ArrayList()
  readonly #high: number
  readonly #low: number
  #waiter: { need: number; boundary: boolean; resolve: () => void; reject: (e: unknown) => void } | undefined
  #ended = false
  #error: unknown
  #paused = false
  #resuming = false
  #pauseAfterResume = false
  /** Bytes received in total (for progress and stall detection). */
  received = 0

  constructor(stream: Stream, opts: { highWater?: number; lowWater?: number } = {}) {
    this.#stream = stream
    this.#high = opts.highWater ?? 4 * 1024 * 1024
    this.#low = opts.lowWater ?? this.#high / 4
    stream.addEventListener('message', (evt) => this.#onData(evt.data))
    stream.addEventListener('remoteCloseWrite', () => this.#onEnd())
    stream.addEventListener('end', () => this.#onEnd())
    stream.addEventListener('close', (evt) => {
      const err = (evt as { error?: unknown }).error
      if (err != null) this.#fail(err)
      else this.#onEnd()
    })
  }

  get buffered(): number {
    return this.#buf.byteLength
  }

  #onData(data: Uint8Array | Uint8ArrayList): void {
    this.#buf.append(data)
    this.received += data.byteLength
    if (this.#buf.byteLength >= this.#high) this.#pause()
    this.#wake()
  }

  #onEnd(): void {
    // a reset dispatches 'end' before its 'close' carries the error: tell the two apart now
    const status = this.#stream.status
    if (status === 'reset' || status === 'aborted') this.#error ??= new StreamEndedError(`stream ${status === 'reset' ? 'reset by the remote' : 'aborted'}`)
    this.#ended = true
    this.#wake()
  }

  /** Why a wait for `need` bytes cannot be met now that the stream has ended. */
  #endError(need: number, boundary: boolean): unknown {
    const have = this.#buf.byteLength
    if (boundary && have === 0) {
      return this.#error instanceof StreamEndedError || this.#error == null ? new StreamEndedError('stream ended between messages') : this.#error
    }
    return this.#error ?? new InvalidMessageError(`stream ended ${have} bytes into a ${need}-byte frame`)
  }

  #fail(err: unknown): void {
    this.#error ??= err
    this.#ended = true
    this.#wake()
  }

  #wake(): void {
    const w = this.#waiter
    if (w == null) return
    if (this.#buf.byteLength >= w.need) {
      this.#waiter = undefined
      w.resolve()
    } else if (this.#ended) {
      this.#waiter = undefined
      w.reject(this.#endError(w.need, w.boundary))
    }
  }

  #pause(): void {
    if (this.#paused) return
    if (this.#resuming) {
      this.#pauseAfterResume = true
      return
    }
    if (this.#stream.readStatus !== 'readable') return
    this.#paused = true
    this.#stream.pause()
  }

  #maybeResume(): void {
    if (this.#paused && this.#buf.byteLength <= this.#low) this.#resume()
  }

  #resume(): void {
    this.#paused = false
    if (this.#stream.readStatus !== 'paused') return
    this.#resuming = true
    try {
      // re-delivers what the stream buffered, synchronously, into #onData
      this.#stream.resume()
    } finally {
      this.#resuming = false
    }
    if (this.#pauseAfterResume) {
      this.#pauseAfterResume = false
      if (this.#buf.byteLength >= this.#high) this.#pause()
    }
  }

  /** Waits until `n` bytes are buffered; `boundary`: nothing of the next message has been read yet. */
  async #need(n: number, signal?: AbortSignal, boundary = false): Promise<void> {
    if (this.#buf.byteLength >= n) return
    if (this.#ended || this.#error != null) throw this.#endError(n, boundary)
    // we wait for more than we hold: let it come even above the high-water mark
    if (this.#paused) this.#resume()
    if (this.#buf.byteLength >= n) return
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiter = undefined
        reject(signal?.reason)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiter = {
        need: n,
        boundary,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort)
          reject(e)
        },
      }
    })
  }

  /** The next message, or null when the remote ended (or reset) the stream between messages. */
  async next(max: number, signal?: AbortSignal): Promise<Uint8Array | null> {
    try {
      return await this.message(max, signal)
    } catch (err) {
      if (err instanceof StreamEndedError && this.#buf.byteLength === 0) return null
      throw err
    }
  }

  /**
   * Reads one varint length-prefixed message of at most `max` bytes (checked before the body is awaited).
   * Throws StreamEndedError if the stream ends before its first byte, InvalidMessageError if it ends part-way.
   */
  async message(max: number, signal?: AbortSignal): Promise<Uint8Array> {
    let len = 0
    let shift = 0
    let i = 0
    for (;;) {
      await this.#need(i + 1, signal, i === 0)
      const b = this.#buf.get(i)
      len += (b & 0x7f) * 2 ** shift
      i++
      if ((b & 0x80) === 0) break
      shift += 7
      if (i >= 5) throw new InvalidMessageError('message length prefix too long')
    }
    if (len > max) throw new OverLimitError(`message of ${len} bytes is over the ${max}-byte limit`)
    await this.#need(i + len, signal)
    const out = this.#buf.subarray(i, i + len)
    this.#buf.consume(i + len)
    this.#maybeResume()
    return out
  }

  /** Fills `dest[0..len)` with the next `len` raw bytes, copying as they arrive. */
  async rawInto(dest: Uint8Array, len: number, signal?: AbortSignal): Promise<void> {
    let filled = 0
    while (filled < len) {
      if (this.#buf.byteLength === 0) await this.#need(1, signal)
      const take = Math.min(len - filled, this.#buf.byteLength)
      // copy buffer by buffer: no concatenation
      let copied = 0
      for (const part of this.#buf) {
        const n = Math.min(part.byteLength, take - copied)
        dest.set(n === part.byteLength ? part : part.subarray(0, n), filled + copied)
        copied += n
        if (copied === take) break
      }
      this.#buf.consume(take)
      filled += take
      this.#maybeResume()
    }
  }
}

/** Writes with backpressure: never lets the stream's own queue grow beyond about one frame. */
export class StreamWriter {
  readonly #stream: Stream
  readonly #frame: number
  /** Bytes written in total. */
  sent = 0

  constructor(stream: Stream, frame = 1024 * 1024) {
    this.#stream = stream
    this.#frame = frame
  }

  /** One varint length-prefixed message. */
  async message(body: Uint8Array, signal?: AbortSignal): Promise<void> {
    const prefix = varint(body.byteLength)
    const out = new Uint8Array(prefix.byteLength + body.byteLength)
    out.set(prefix, 0)
    out.set(body, prefix.byteLength)
    await this.#send(out, signal)
  }

  /** Raw bytes, in frames. */
  async raw(data: Uint8Array, signal?: AbortSignal): Promise<void> {
    for (let off = 0; off < data.byteLength; off += this.#frame) {
      await this.#send(data.subarray(off, Math.min(data.byteLength, off + this.#frame)), signal)
    }
  }

  async #send(buf: Uint8Array, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    this.sent += buf.byteLength
    if (this.#stream.send(buf)) return
    // 'drain' also fires for other streams and window updates: check our own queue each time
    do {
      await drained(this.#stream, signal)
    } while (this.#stream.writeBufferLength >= this.#frame)
  }
}

/** An unsigned LEB128 varint, as the length prefixes on the wire. */
export function varint(n: number): Uint8Array {
  const out: number[] = []
  let v = n
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
  return Uint8Array.from(out)
}

/** Resolves on the next 'drain' event; rejects if the stream closes or the signal aborts. */
function drained(stream: Stream, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
      signal?.removeEventListener('abort', onAbort)
    }
    const onDrain = (): void => {
      cleanup()
      resolve()
    }
    const onClose = (evt: Event): void => {
      cleanup()
      reject((evt as { error?: Error }).error ?? new Error('stream closed while sending'))
    }
    const onAbort = (): void => {
      cleanup()
      reject(signal?.reason)
    }
    if (stream.status !== 'open') {
      reject(new Error(`stream is ${stream.status}`))
      return
    }
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
