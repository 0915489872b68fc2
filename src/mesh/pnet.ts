import type { AbortOptions, ConnectionProtector, MessageStream, MultiaddrConnection } from '@libp2p/interface'
import { AbstractMultiaddrConnection, byteStream, type MessageStreamInit, type SendResult } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'
import { ValidationError } from '../util/errors.js'
import { XSalsa20Stream } from './xsalsa20-stream.js'

/**
 * The libp2p private-network protector (pnet, swarm key), same wire format as
 * @libp2p/pnet and go-libp2p's pnet: each side sends a random 24-byte nonce,
 * then every byte each way is XORed with XSalsa20(PSK, sender's nonce). It
 * interoperates with @libp2p/pnet nodes.
 *
 * Why not @libp2p/pnet itself: its cipher, the `xsalsa20` package, runs all
 * connections of a process in one WebAssembly memory (10 pages, at most
 * 1,000 = 62.5 MiB). A call with more than ~640 KiB (yamux hands a pnet
 * connection everything it has queued in one call) grows that memory, which
 * detaches the view every other cipher instance holds; each of them then sees
 * a memory of length 0 and grows it again on its next call, and so on: the
 * memory climbs to its maximum within a few hundred calls and grow() throws
 * from a connection's 'message' listener, an uncaught exception that ends the
 * process. Each instance also takes 64 bytes of that memory that pnet never
 * gives back. Here each direction has its own pure-JS cipher (@noble/ciphers).
 *
 * A cipher that throws (or a keystream used up after 256 GiB) closes that one
 * connection, reported to `onError`; it never reaches the process.
 */

export const NONCE_LENGTH = 24
const KEY_LENGTH = 32

export interface PskProtectorInit {
  /** Swarm key file contents (`/key/swarm/psk/1.0.0/`, `/base16/`, 64 hex digits). */
  psk: Uint8Array
  /** How long the nonce exchange may take when the caller gives no signal (ms). */
  timeoutMs?: number
  /** A connection closed because its data path failed. */
  onError?: (err: Error, remoteAddr: string) => void
  /** The cipher for each direction of each connection (fault injection and tests; default XSalsa20Stream). */
  cipher?: (key: Uint8Array, nonce: Uint8Array, direction: 'in' | 'out') => { update(input: Uint8Array): Uint8Array }
}

/** The 32-byte key of a swarm key file (as @libp2p/pnet reads it). */
export function decodeSwarmKey(file: Uint8Array): Uint8Array {
  const lines = new TextDecoder().decode(file).split(/\r\n|\r|\n/)
  const hex = lines[2]?.trim() ?? ''
  if (lines[0]?.trim() !== '/key/swarm/psk/1.0.0/' || lines[1]?.trim() !== '/base16/' || !/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new ValidationError('swarm key: expected /key/swarm/psk/1.0.0/, /base16/ and 64 hex digits')
  }
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

interface Cipher {
  update(input: Uint8Array): Uint8Array
}

interface BoxInit extends Omit<MessageStreamInit, 'log'> {
  maConn: MultiaddrConnection
  inbound: Cipher
  outbound: Cipher
  log: MultiaddrConnection['log']
  onError: (err: Error, remoteAddr: string) => void
}

/** The encrypted connection: ciphertext below (the TCP connection), plaintext above (noise). */
class BoxConnection extends AbstractMultiaddrConnection {
  readonly #maConn: MultiaddrConnection
  readonly #in: Cipher
  readonly #out: Cipher
  readonly #onError: (err: Error, remoteAddr: string) => void
  #failed = false

  constructor(init: BoxInit) {
    super({ ...init, remoteAddr: init.maConn.remoteAddr, direction: init.maConn.direction })
    this.#maConn = init.maConn
    this.#in = init.inbound
    this.#out = init.outbound
    this.#onError = init.onError
    this.#maConn.addEventListener('message', (evt) => {
      if (this.#failed) return
      let plain: Uint8Array[]
      try {
        const data = evt.data
        plain = data instanceof Uint8Array ? [this.#in.update(data)] : [...data].map((b) => this.#in.update(b))
      } catch (err) {
        this.#fail(err)
        return
      }
      for (const p of plain) this.onData(p)
    })
    this.#maConn.addEventListener('drain', () => this.onMuxerDrain())
    this.#maConn.addEventListener('close', (evt) => {
      if (evt.error != null) {
        if (evt.local) this.abort(evt.error)
        else this.onRemoteReset()
      } else {
        this.onTransportClosed()
      }
    })
  }

  #fail(err: unknown): void {
    if (this.#failed) return
    this.#failed = true
    const e = err instanceof Error ? err : new Error(String(err))
    const remote = this.#maConn.remoteAddr.toString()
    try {
      this.#onError(e, remote)
    } finally {
      // abort() resets the TCP connection below (sendReset); libp2p then drops the connection and its streams
      this.abort(new Error(`pnet connection to ${remote} failed: ${e.message}`, { cause: e }))
    }
  }

  async sendClose(options?: AbortOptions): Promise<void> {
    await this.#maConn.close(options)
  }

  sendData(data: Uint8ArrayList): SendResult {
    if (this.#failed) return { sentBytes: data.byteLength, canSendMore: false }
    let cipher: Uint8Array
    try {
      cipher = this.#out.update(data.subarray())
    } catch (err) {
      // not from inside the send loop that called us: it is still iterating the write buffer
      queueMicrotask(() => this.#fail(err))
      return { sentBytes: data.byteLength, canSendMore: false }
    }
    return { sentBytes: data.byteLength, canSendMore: this.#maConn.send(cipher) }
  }

  sendReset(err: Error): void {
    this.#maConn.abort(err)
  }

  sendPause(): void {
    this.#maConn.pause()
  }

  sendResume(): void {
    this.#maConn.resume()
  }
}

class PskProtector implements ConnectionProtector {
  readonly #key: Uint8Array
  readonly #timeoutMs: number
  readonly #onError: (err: Error, remoteAddr: string) => void
  readonly #cipher: NonNullable<PskProtectorInit['cipher']>;
  readonly [Symbol.toStringTag] = 'meshsync/pnet'

  constructor(init: PskProtectorInit) {
    this.#key = decodeSwarmKey(init.psk)
    if (this.#key.length !== KEY_LENGTH) throw new ValidationError('swarm key: key must be 32 bytes')
    this.#timeoutMs = init.timeoutMs ?? 5000
    this.#onError = init.onError ?? (() => {})
    this.#cipher = init.cipher ?? ((key, nonce) => new XSalsa20Stream(key, nonce))
  }

  async protect(connection: MessageStream, options?: AbortOptions): Promise<MultiaddrConnection> {
    const log = connection.log.newScope('pnet')
    const localNonce = crypto.getRandomValues(new Uint8Array(NONCE_LENGTH))
    const opts = options?.signal != null ? options : { ...options, signal: AbortSignal.timeout(this.#timeoutMs) }
    const bytes = byteStream(connection)
    const [remote] = await Promise.all([bytes.read({ bytes: NONCE_LENGTH, ...opts }), bytes.write(localNonce, opts)])
    const remoteNonce = remote.subarray()
    const maConn = bytes.unwrap() as MultiaddrConnection
    return new BoxConnection({
      maConn,
      inbound: this.#cipher(this.#key, remoteNonce, 'in'),
      outbound: this.#cipher(this.#key, localNonce, 'out'),
      log,
      onError: this.#onError,
    })
  }
}

/** libp2p's `connectionProtector` option: `pskProtector({ psk, onError })`. */
export function pskProtector(init: PskProtectorInit): () => ConnectionProtector {
  return () => new PskProtector(init)
}

/**
 * Fault injection (debug.failPnetConnections): the first `n` connections get
 * ciphers that throw once 1 MiB has passed through them (either direction),
 * as the xsalsa20 WASM did on received data when its memory ran out.
 */
export function failingCiphers(n: number): NonNullable<PskProtectorInit['cipher']> {
  // each connection asks for its inbound cipher first, then its outbound one
  let left = n * 2
  return (key, nonce) => {
    const real = new XSalsa20Stream(key, nonce)
    if (left <= 0) return real
    left--
    return {
      update: (b: Uint8Array) => {
        if (real.position > 1024 * 1024) throw new RangeError('debug.failPnetConnections: injected cipher failure')
        return real.update(b)
      },
    }
  }
}
