import { createHash, timingSafeEqual } from 'node:crypto'
import { connect as netConnect } from 'node:net'
import { connect, type TLSSocket } from 'node:tls'
import { InvalidMessageError, MeshsyncError, StreamEndedError } from '../../../src/util/errors.js'
import { encodeHello, HelloStatus, LANE_HEADER_BYTES, LANE_HELLO_TIMEOUT_MS, LANE_KIND_CHUNK, LANE_KIND_MISSING, LANE_MAX_CHUNK, type LaneOffer, SocketReader, writeAll } from './wire.js'

/** The lane could not be opened: refused, unreachable, wrong fingerprint or token. */
export class LaneUnavailableError extends MeshsyncError {
  readonly reason: string
  constructor(reason: string, message: string, options?: ErrorOptions) {
    super('ERR_LANE_UNAVAILABLE', message, options)
    this.reason = reason
  }
}

export type LaneFrame = { kind: 'chunk'; index: number; length: number } | { kind: 'missing'; index: number }

/** The receiver's end of one lane: chunk requests out, chunk frames in. */
export class LaneConnection {
  readonly #socket: TLSSocket
  readonly reader: SocketReader

  constructor(socket: TLSSocket, reader: SocketReader) {
    this.#socket = socket
    this.reader = reader
  }

  get received(): number {
    return this.reader.received
  }

  async request(chunks: number[], signal: AbortSignal): Promise<void> {
    const b = Buffer.allocUnsafe(4 * chunks.length)
    for (let k = 0; k < chunks.length; k++) b.writeUInt32BE(chunks[k]!, 4 * k)
    await writeAll(this.#socket, b, signal)
  }

  /** The next frame header (the body, for a chunk, is read with `body`). */
  async header(signal: AbortSignal): Promise<LaneFrame> {
    const h = await this.reader.read(LANE_HEADER_BYTES, signal, 'chunk header')
    const kind = h.readUInt8(0)
    const index = h.readUInt32BE(1)
    const length = h.readUInt32BE(5)
    if (kind === LANE_KIND_MISSING) return { kind: 'missing', index }
    if (kind !== LANE_KIND_CHUNK) throw new InvalidMessageError(`lane frame of unknown kind ${kind}`)
    if (length > LANE_MAX_CHUNK) throw new InvalidMessageError(`lane chunk of ${length} bytes is over ${LANE_MAX_CHUNK}`)
    return { kind: 'chunk', index, length }
  }

  body(dest: Uint8Array, len: number, signal: AbortSignal): Promise<void> {
    return this.reader.readInto(dest, len, signal, 'chunk')
  }

  close(): void {
    this.#socket.end()
    setTimeout(() => this.#socket.destroy(), 1000).unref()
  }

  destroy(): void {
    this.#socket.destroy()
  }
}

/**
 * Opens the lane a holder offered: TLS 1.3 to `host:offer.port`, the server
 * certificate pinned to the offered fingerprint (checked before a byte is
 * sent), then the hello with the one-time token. Throws LaneUnavailableError.
 */
export async function connectLane(host: string, offer: LaneOffer, sha256: string, signal: AbortSignal, localAddress?: string): Promise<LaneConnection> {
  const sig = AbortSignal.any([signal, AbortSignal.timeout(LANE_HELLO_TIMEOUT_MS)])
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const tcp = netConnect({ host, port: offer.port, localAddress })
    const s = connect({ socket: tcp, minVersion: 'TLSv1.3', rejectUnauthorized: false })
    const onAbort = (): void => {
      s.destroy()
      tcp.destroy()
      reject(new LaneUnavailableError('timeout', `lane ${host}:${offer.port}: no TLS connection within ${LANE_HELLO_TIMEOUT_MS} ms`))
    }
    sig.addEventListener('abort', onAbort, { once: true })
    // both sockets may report the same failure: the first one settles, the rest are swallowed
    const onError = (err: Error): void => {
      sig.removeEventListener('abort', onAbort)
      s.destroy()
      tcp.destroy()
      reject(new LaneUnavailableError('unreachable', `lane ${host}:${offer.port}: ${err.message}`, { cause: err }))
    }
    s.on('error', onError)
    tcp.on('error', onError)
    s.once('secureConnect', () => {
      sig.removeEventListener('abort', onAbort)
      // the pin: nothing is sent before the certificate is the one offered over the authenticated stream
      const raw = s.getPeerCertificate().raw
      const fp = raw != null ? createHash('sha256').update(raw).digest() : Buffer.alloc(0)
      if (fp.byteLength !== offer.fingerprint.byteLength || !timingSafeEqual(fp, offer.fingerprint)) {
        s.destroy()
        reject(new LaneUnavailableError('fingerprint', `lane ${host}:${offer.port}: certificate fingerprint ${fp.toString('hex').slice(0, 16)} is not the offered one`))
        return
      }
      if (s.getProtocol() !== 'TLSv1.3') {
        s.destroy()
        reject(new LaneUnavailableError('tls', `lane ${host}:${offer.port}: negotiated ${s.getProtocol()}, not TLSv1.3`))
        return
      }
      resolve(s)
    })
  })
  socket.on('error', () => {})
  const reader = new SocketReader(socket)
  try {
    await writeAll(socket, encodeHello(offer.token, sha256), sig)
    const status = (await reader.read(1, sig, 'hello answer'))[0]
    if (status !== HelloStatus.OK) {
      const why = status === HelloStatus.EXPIRED ? 'expired' : status === HelloStatus.BUSY ? 'busy' : 'token'
      throw new LaneUnavailableError(why, `lane ${host}:${offer.port} refused the token (${why})`)
    }
  } catch (err) {
    socket.destroy()
    if (err instanceof LaneUnavailableError) throw err
    if (signal.aborted) throw err
    throw new LaneUnavailableError(err instanceof StreamEndedError ? 'refused' : 'timeout', `lane ${host}:${offer.port}: ${(err as Error).message}`, { cause: err })
  }
  return new LaneConnection(socket, reader)
}

/** The IP of a multiaddr such as /ip4/10.0.0.5/tcp/4001 (undefined for DNS names and relays). */
export function ipOfAddr(addr: string): string | undefined {
  if (addr.includes('/p2p-circuit')) return undefined
  const m = /^\/(ip4|ip6)\/([^/]+)\//.exec(addr)
  return m?.[2]
}
