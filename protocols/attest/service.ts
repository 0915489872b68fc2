import { randomBytes } from 'node:crypto'
import type { Connection, PeerId, PrivateKey, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { lpStream } from '@libp2p/utils'
import { MeshsyncError } from '../../src/util/errors.js'
import { Attestation, AttestRequest, AttestResponse, AttestStatus } from './attest.pb.js'
import { ATTEST_PROTOCOL, MAX_CONCURRENT, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, SIGNING_DOMAIN } from './constants.js'

/** What the node gives the protocol: whether it holds a file, and a re-hash of its copy. */
export interface AttestHolder {
  /** Grants the lease if it may attest (holds a verified copy, not deleting it); returns the size, or undefined. */
  grant(sha256: string): { size: number; leaseMs: number } | 'refused' | undefined
  /** fsyncs and re-hashes the local copy; true if it still matches. */
  rehash(sha256: string, signal: AbortSignal): Promise<boolean>
}

export interface AttestComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  privateKey: PrivateKey
  peerId: PeerId
}

export interface AttestInit {
  holder: AttestHolder
  /** How long a re-hash may take before the request is answered INTERNAL. Default 120 s. */
  rehashTimeoutMs?: number
}

export interface VerifiedAttestation {
  peer: string
  sha256: string
  size: number
  /** The requester's clock when the attestation arrived. */
  timeMs: number
  leaseMs: number
}

export class AttestRefusedError extends MeshsyncError {
  readonly status: string
  constructor(status: string, message: string) {
    super('ERR_ATTEST_REFUSED', message)
    this.status = status
  }
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** Server and client of /meshsync/attest/1.0.0. */
export class AttestService implements Startable {
  readonly #c: AttestComponents
  readonly #init: AttestInit
  #running = 0

  constructor(components: AttestComponents, init: AttestInit) {
    this.#c = components
    this.#init = init
  }

  async start(): Promise<void> {
    await this.#c.registrar.handle(ATTEST_PROTOCOL, (s, c) => this.#serve(s, c), { maxInboundStreams: 8 })
  }

  async stop(): Promise<void> {
    await this.#c.registrar.unhandle(ATTEST_PROTOCOL)
  }

  async #serve(stream: Stream, _connection: Connection): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
    const timeout = AbortSignal.timeout(this.#init.rehashTimeoutMs ?? 120_000)
    const reply = async (r: Partial<AttestResponse>): Promise<void> => {
      await lp.write(AttestResponse.encode({ status: AttestStatus.INTERNAL, message: '', attestation: new Uint8Array(0), signature: new Uint8Array(0), ...r }), { signal: timeout })
      await stream.close({ signal: timeout })
    }
    try {
      let req: AttestRequest
      try {
        req = AttestRequest.decode((await lp.read({ signal: timeout })).subarray())
      } catch {
        await reply({ status: AttestStatus.BAD_REQUEST, message: 'request does not decode' })
        return
      }
      if (req.sha256.byteLength !== 32 || req.nonce.byteLength !== 32) {
        await reply({ status: AttestStatus.BAD_REQUEST, message: 'sha256 and nonce must be 32 bytes' })
        return
      }
      const sha = hex(req.sha256)
      if (this.#running >= MAX_CONCURRENT) {
        await reply({ status: AttestStatus.BUSY, message: 'too many re-hashes running' })
        return
      }
      const grant = this.#init.holder.grant(sha)
      if (grant === 'refused') {
        await reply({ status: AttestStatus.REFUSED, message: 'deleting its own copy' })
        return
      }
      if (grant == null) {
        await reply({ status: AttestStatus.NOT_HELD, message: 'no verified copy here' })
        return
      }
      this.#running++
      let ok: boolean
      try {
        ok = await this.#init.holder.rehash(sha, timeout)
      } finally {
        this.#running--
      }
      if (!ok) {
        await reply({ status: AttestStatus.NOT_HELD, message: 'local copy failed its re-hash' })
        return
      }
      const attestation = Attestation.encode({
        sha256: req.sha256,
        size: grant.size,
        peerId: this.#c.peerId.toString(),
        timeMs: Date.now(),
        nonce: req.nonce,
        leaseMs: grant.leaseMs,
      })
      const signature = new Uint8Array(await this.#c.privateKey.sign(concat(Buffer.from(SIGNING_DOMAIN), attestation)))
      await reply({ status: AttestStatus.OK, attestation, signature })
    } catch (err) {
      stream.abort(err as Error)
    }
  }

  /**
   * Asks `peer` to attest `sha256` of `size` bytes. Resolves with a checked
   * attestation; rejects (AttestRefusedError, timeout, network) otherwise.
   */
  async request(peer: PeerId, sha256: string, size: number, options: { signal: AbortSignal; now: () => number }): Promise<VerifiedAttestation> {
    const nonce = randomBytes(32)
    const stream = await this.#c.connectionManager.openStream(peer, ATTEST_PROTOCOL, { signal: options.signal })
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_RESPONSE_BYTES })
      await lp.write(AttestRequest.encode({ sha256: new Uint8Array(Buffer.from(sha256, 'hex')), nonce: new Uint8Array(nonce) }), { signal: options.signal })
      const res = AttestResponse.decode((await lp.read({ signal: options.signal })).subarray())
      await stream.close({ signal: options.signal }).catch(() => {})
      if (res.status !== AttestStatus.OK) throw new AttestRefusedError(String(res.status), `${peer} did not attest ${sha256.slice(0, 12)}: ${res.status} ${res.message}`)
      const a = Attestation.decode(res.attestation)
      const key = peer.publicKey
      if (key == null) throw new AttestRefusedError('BAD_SIGNATURE', `no public key for ${peer}`)
      const valid = await key.verify(concat(Buffer.from(SIGNING_DOMAIN), res.attestation), res.signature)
      if (!valid) throw new AttestRefusedError('BAD_SIGNATURE', `attestation from ${peer} has a bad signature`)
      if (a.peerId !== peer.toString()) throw new AttestRefusedError('WRONG_PEER', `attestation names ${a.peerId}, not ${peer}`)
      if (hex(a.sha256) !== sha256 || a.size !== size || !Buffer.from(a.nonce).equals(nonce)) {
        throw new AttestRefusedError('MISMATCH', `attestation from ${peer} is for another file, size or request`)
      }
      return { peer: peer.toString(), sha256, size, timeMs: options.now(), leaseMs: a.leaseMs }
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a, 0)
  out.set(b, a.byteLength)
  return out
}

export function attestService(init: AttestInit): (components: AttestComponents) => AttestService {
  return (components) => new AttestService(components, init)
}
