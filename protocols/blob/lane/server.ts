import { createHash, randomBytes, X509Certificate } from 'node:crypto'
import type { Socket } from 'node:net'
import { createServer, type Server, type TLSSocket } from 'node:tls'
import { generate } from 'selfsigned'
import { InvalidMessageError } from '../../../src/util/errors.js'
import { chunkCount, chunkLength } from '../chunks.js'
import { MAX_OUTSTANDING } from '../constants.js'
import type { BlobHandle } from '../server.js'
import {
  encodeHeader,
  HelloStatus,
  LANE_HEADER_BYTES,
  LANE_HELLO_BYTES,
  LANE_HELLO_TIMEOUT_MS,
  LANE_LINGER_MS,
  LANE_KIND_CHUNK,
  LANE_KIND_MISSING,
  LANE_MAGIC,
  LANE_MAX_CONNECTIONS,
  LANE_TOKEN_TTL_MS,
  type LaneOffer,
  SocketReader,
  writeAll,
} from './wire.js'

export type LaneRefusal = 'notCluster' | 'badToken' | 'expired' | 'wrongPeer' | 'wrongFile' | 'invalid'

export interface LaneServerInit {
  /** 0 = any free port. */
  port: number
  host?: string
  /** IPs of this peer's current libp2p connections. */
  peerIps(peer: string): string[]
  /** Is this IP that of a current libp2p connection of any connected (allow-listed) peer? */
  isClusterIp(ip: string): boolean
  /** Milliseconds now (the node's Clock). */
  now(): number
  onRefused?(reason: LaneRefusal, ip: string, detail: string): void
}

interface Grant {
  peer: string
  sha256: string
  handle: BlobHandle
  expires: number
  signal: AbortSignal
  onChunk: (bytes: number) => void
}

/** `::ffff:1.2.3.4` as 1.2.3.4. */
export function plainIp(addr: string | undefined): string {
  const a = addr ?? ''
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a
}

/**
 * The holder's end of the bulk lane (SPEC.md, Bulk data lane): a TLS 1.3
 * listener with a throw-away certificate; serves the chunks of one blob
 * stream's handle to whoever redeems the one-time token that stream offered.
 */
export class LaneServer {
  readonly #init: LaneServerInit
  readonly #server: Server
  readonly fingerprint: Uint8Array
  readonly #grants = new Map<string, Grant>()
  readonly #sockets = new Set<Socket>()
  readonly stats = { connections: 0, served: 0, chunks: 0, bytes: 0, refused: { notCluster: 0, badToken: 0, expired: 0, wrongPeer: 0, wrongFile: 0, invalid: 0 } }
  #port = 0

  private constructor(init: LaneServerInit, key: string, cert: string) {
    this.#init = init
    this.fingerprint = new Uint8Array(createHash('sha256').update(new X509Certificate(cert).raw).digest())
    this.#server = createServer({ key, cert, minVersion: 'TLSv1.3', handshakeTimeout: LANE_HELLO_TIMEOUT_MS })
    this.#server.maxConnections = LANE_MAX_CONNECTIONS
    // before the TLS handshake: only cluster hosts get one
    this.#server.on('connection', (socket: Socket) => {
      const ip = plainIp(socket.remoteAddress)
      if (!this.#init.isClusterIp(ip)) {
        this.#refuse('notCluster', ip, 'not the address of a connected cluster peer')
        socket.destroy()
        return
      }
      this.#sockets.add(socket)
      socket.once('close', () => this.#sockets.delete(socket))
    })
    // whatever #serve did not answer closes that one lane, never the process
    this.#server.on('secureConnection', (s: TLSSocket) => void this.#serve(s).catch(() => s.destroy()))
    this.#server.on('tlsClientError', () => {})
  }

  static async start(init: LaneServerInit): Promise<LaneServer> {
    const pems = await generate([{ name: 'commonName', value: 'meshsync-lane' }], { keyType: 'ec', curve: 'P-256' })
    const s = new LaneServer(init, pems.private, pems.cert)
    await new Promise<void>((resolve, reject) => {
      s.#server.once('error', reject)
      s.#server.listen(init.port, init.host, () => {
        s.#server.off('error', reject)
        resolve()
      })
    })
    const addr = s.#server.address()
    s.#port = typeof addr === 'object' && addr != null ? addr.port : 0
    return s
  }

  get port(): number {
    return this.#port
  }

  /** A one-time token for `peer` to fetch chunks of `handle`'s file over the lane while `signal` (the stream) lives. */
  offer(peer: string, sha256: string, handle: BlobHandle, signal: AbortSignal, onChunk: (bytes: number) => void = () => {}): LaneOffer {
    const token = randomBytes(32)
    const key = token.toString('hex')
    this.#grants.set(key, { peer, sha256, handle, expires: this.#init.now() + LANE_TOKEN_TTL_MS, signal, onChunk })
    const drop = (): void => {
      this.#grants.delete(key)
    }
    signal.addEventListener('abort', drop, { once: true })
    setTimeout(drop, LANE_TOKEN_TTL_MS + 1000).unref()
    return { port: this.#port, fingerprint: this.fingerprint, token: new Uint8Array(token), ttlMs: LANE_TOKEN_TTL_MS }
  }

  #refuse(reason: LaneRefusal, ip: string, detail: string): void {
    this.stats.refused[reason]++
    try {
      this.#init.onRefused?.(reason, ip, detail)
    } catch {
      // an observer's failure is not the lane's
    }
  }

  /** Ends a lane and destroys it a second later if the peer never closes its side (it would hold a slot forever). */
  #end(socket: TLSSocket, last?: Buffer): void {
    if (last != null) socket.end(last)
    else socket.end()
    setTimeout(() => socket.destroy(), LANE_LINGER_MS).unref()
  }

  async #serve(socket: TLSSocket): Promise<void> {
    this.stats.connections++
    const ip = plainIp(socket.remoteAddress)
    const controller = new AbortController()
    socket.once('close', () => controller.abort(new Error('lane closed')))
    socket.on('error', () => {})
    const reader = new SocketReader(socket, 1024 * 1024)
    let grant: Grant
    try {
      const hello = await reader.read(LANE_HELLO_BYTES, AbortSignal.any([controller.signal, AbortSignal.timeout(LANE_HELLO_TIMEOUT_MS)]), 'hello')
      if (!hello.subarray(0, 4).equals(LANE_MAGIC)) throw new InvalidMessageError('lane hello has no magic')
      const key = hello.subarray(4, 36).toString('hex')
      const file = hello.subarray(36).toString('hex')
      const g = this.#grants.get(key)
      if (g == null) {
        this.#refuse('badToken', ip, 'unknown or already used token')
        this.#end(socket, Buffer.from([HelloStatus.BAD_TOKEN]))
        return
      }
      if (!this.#init.peerIps(g.peer).includes(ip)) {
        // not consumed: the peer it was issued to may still redeem it
        this.#refuse('wrongPeer', ip, `token issued to ${g.peer}, presented from ${ip}`)
        this.#end(socket, Buffer.from([HelloStatus.BAD_TOKEN]))
        return
      }
      this.#grants.delete(key)
      if (file !== g.sha256) {
        // consumed: a token presented for the wrong file is burnt
        this.#refuse('wrongFile', ip, `token for ${g.sha256.slice(0, 12)} presented for ${file.slice(0, 12)}`)
        this.#end(socket, Buffer.from([HelloStatus.BAD_TOKEN]))
        return
      }
      if (this.#init.now() > g.expires || g.signal.aborted) {
        this.#refuse('expired', ip, `token for ${g.peer} expired`)
        this.#end(socket, Buffer.from([HelloStatus.EXPIRED]))
        return
      }
      grant = g
      await writeAll(socket, Buffer.from([HelloStatus.OK]), controller.signal)
    } catch (err) {
      this.#refuse('invalid', ip, (err as Error).message)
      socket.destroy()
      return
    }
    this.stats.served++
    const onStreamEnd = (): void => {
      socket.destroy()
    }
    grant.signal.addEventListener('abort', onStreamEnd, { once: true })
    const signal = AbortSignal.any([controller.signal, grant.signal])
    const h = grant.handle
    const meta = h.meta()
    const n = chunkCount(meta.size, meta.chunkSize)
    const queue: number[] = []
    let wake: (() => void) | undefined
    let readerDone = false
    let readFailure: Error | undefined
    void (async () => {
      try {
        for (;;) {
          const b = await reader.read(4, signal, 'chunk request')
          const i = b.readUInt32BE(0)
          if (i >= n) throw new InvalidMessageError(`lane chunk ${i} out of range 0..${n - 1}`)
          if (queue.length >= MAX_OUTSTANDING) throw new InvalidMessageError(`more than ${MAX_OUTSTANDING} lane chunks outstanding`)
          queue.push(i)
          wake?.()
        }
      } catch (err) {
        if (err instanceof InvalidMessageError) readFailure = err
      } finally {
        readerDone = true
        wake?.()
      }
    })()
    try {
      let ahead: { index: number; data: Promise<Uint8Array> } | undefined
      const readChunk = (index: number) => {
        const data = h.read(index, signal)
        data.catch(() => {})
        return { index, data }
      }
      for (;;) {
        if (readFailure != null) throw readFailure
        const index = queue.shift()
        if (index == null) {
          if (readerDone) break
          await new Promise<void>((resolve) => {
            wake = resolve
          })
          wake = undefined
          continue
        }
        if (!h.has(index)) {
          await writeAll(socket, encodeHeader(LANE_KIND_MISSING, index, 0), signal)
          continue
        }
        const current = ahead?.index === index ? ahead : readChunk(index)
        ahead = undefined
        const next = queue[0]
        if (next != null && h.has(next)) ahead = readChunk(next)
        const data = await current.data
        const len = chunkLength(meta.size, meta.chunkSize, index)
        if (data.byteLength !== len) throw new Error(`read ${data.byteLength} bytes of chunk ${index}, expected ${len}`)
        await h.pace(len, signal)
        await writeAll(socket, encodeHeader(LANE_KIND_CHUNK, index, len), signal)
        await writeAll(socket, data, signal)
        this.stats.chunks++
        this.stats.bytes += len
        grant.onChunk(LANE_HEADER_BYTES + len)
      }
      this.#end(socket)
    } catch (err) {
      if (err instanceof InvalidMessageError) this.#refuse('invalid', ip, err.message)
      socket.destroy()
    } finally {
      grant.signal.removeEventListener('abort', onStreamEnd)
    }
  }

  /** Cuts every lane connection now (tests: a lane cut mid-transfer; the streams carry on). */
  dropConnections(): void {
    for (const s of this.#sockets) s.destroy()
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    this.#grants.clear()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }
}
