import { InvalidMessageError } from '../../src/util/errors.js'
import { chunkCount, chunkRoot, chunkSizeFor } from './chunks.js'
import { MAX_CHUNKS_PER_REQUEST, MAX_FACTS_BYTES, PRIORITY_CODES, type WirePriority } from './constants.js'
import { type Meta as PbMeta, Request as PbRequest, Response as PbResponse, Status } from './blob.pb.js'
import type { LaneOffer } from './lane/wire.js'

export { Status }

export interface BlobRequest {
  sha256?: string
  meta?: boolean
  have?: boolean
  chunks?: number[]
  range?: { offset: number; length: number }
  priority?: WirePriority
  copies?: number
  /** First request: offer a bulk lane. */
  lane?: boolean
}

export interface BlobMeta {
  size: number
  sha256: string
  chunkSize: number
  /** 32 bytes per chunk. */
  chunkHashes: Uint8Array
  kind: string
  facts: string
  complete: boolean
}

export type BlobResponse =
  | { type: 'error'; status: Status; message: string }
  | { type: 'meta'; meta: BlobMeta; lane?: LaneOffer }
  | { type: 'have'; have: Uint8Array }
  | { type: 'chunk'; index: number; length: number }
  | { type: 'missing'; index: number }

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))

export function encodeRequest(r: BlobRequest): Uint8Array {
  return PbRequest.encode({
    sha256: r.sha256 != null ? bytes(r.sha256) : new Uint8Array(0),
    meta: r.meta ?? false,
    have: r.have ?? false,
    chunks: r.chunks ?? [],
    offset: r.range?.offset,
    length: r.range?.length,
    priority: PRIORITY_CODES.indexOf(r.priority ?? 'normal'),
    copies: r.copies ?? 0,
    lane: r.lane ?? false,
  })
}

export function decodeRequest(data: Uint8Array): BlobRequest {
  let r: PbRequest
  try {
    r = PbRequest.decode(data, { limits: { chunks: MAX_CHUNKS_PER_REQUEST } })
  } catch (err) {
    throw new InvalidMessageError(`blob request does not decode: ${(err as Error).message}`)
  }
  if (r.sha256.byteLength !== 0 && r.sha256.byteLength !== 32) throw new InvalidMessageError('blob request sha256 must be 32 bytes')
  if ((r.offset == null) !== (r.length == null)) throw new InvalidMessageError('blob request range needs both offset and length')
  if (r.priority >= PRIORITY_CODES.length) throw new InvalidMessageError('blob request priority out of range')
  return {
    sha256: r.sha256.byteLength === 32 ? hex(r.sha256) : undefined,
    meta: r.meta,
    have: r.have,
    chunks: r.chunks,
    range: r.offset != null && r.length != null ? { offset: r.offset, length: r.length } : undefined,
    priority: PRIORITY_CODES[r.priority],
    copies: r.copies,
    lane: r.lane,
  }
}

export function encodeResponse(r: BlobResponse): Uint8Array {
  switch (r.type) {
    case 'error':
      return PbResponse.encode({ status: r.status, message: r.message.slice(0, 500), length: 0 })
    case 'meta':
      return PbResponse.encode({
        status: Status.OK,
        message: '',
        length: 0,
        meta: {
          size: r.meta.size,
          sha256: bytes(r.meta.sha256),
          chunkSize: r.meta.chunkSize,
          chunkHashes: new Uint8Array(r.meta.chunkHashes),
          kind: r.meta.kind,
          facts: r.meta.facts,
          complete: r.meta.complete,
          lane: r.lane != null ? { port: r.lane.port, fingerprint: new Uint8Array(r.lane.fingerprint), token: new Uint8Array(r.lane.token), ttlMs: r.lane.ttlMs } : undefined,
        },
      })
    case 'have':
      return PbResponse.encode({ status: Status.OK, message: '', length: 0, have: new Uint8Array(r.have) })
    case 'chunk':
      return PbResponse.encode({ status: Status.OK, message: '', chunk: r.index, length: r.length })
    case 'missing':
      return PbResponse.encode({ status: Status.OK, message: '', length: 0, missing: r.index })
  }
}

export function decodeResponse(data: Uint8Array): BlobResponse {
  let r: PbResponse
  try {
    r = PbResponse.decode(data)
  } catch (err) {
    throw new InvalidMessageError(`blob response does not decode: ${(err as Error).message}`)
  }
  if (r.status !== Status.OK) return { type: 'error', status: r.status, message: r.message.slice(0, 500) }
  if (r.meta != null) {
    const m: PbMeta = r.meta
    if (m.sha256.byteLength !== 32) throw new InvalidMessageError('blob meta sha256 must be 32 bytes')
    if (Buffer.byteLength(m.facts) > MAX_FACTS_BYTES) throw new InvalidMessageError('blob meta facts too large')
    const l = m.lane
    if (l != null && (l.port < 1 || l.port > 65535 || l.fingerprint.byteLength !== 32 || l.token.byteLength !== 32 || l.ttlMs > 60_000)) {
      throw new InvalidMessageError('blob lane offer malformed (port 1..65535, 32-byte fingerprint and token, ttl at most 60 s)')
    }
    return {
      type: 'meta',
      meta: { size: m.size, sha256: hex(m.sha256), chunkSize: m.chunkSize, chunkHashes: m.chunkHashes, kind: m.kind.slice(0, 32), facts: m.facts, complete: m.complete },
      lane: l != null ? { port: l.port, fingerprint: l.fingerprint, token: l.token, ttlMs: l.ttlMs } : undefined,
    }
  }
  if (r.have != null) return { type: 'have', have: r.have }
  if (r.chunk != null) return { type: 'chunk', index: r.chunk, length: r.length }
  if (r.missing != null) return { type: 'missing', index: r.missing }
  throw new InvalidMessageError('blob response carries nothing')
}

/** What the receiver expects of a file, from the manifest. */
export interface Expected {
  sha256: string
  size: number
  chunkRoot: string
}

/**
 * The pre-transfer checksum exchange: does the holder's metadata describe
 * the file the manifest names? Returns the reason it does not, or undefined.
 */
export function metaProblem(m: BlobMeta, want: Expected): string | undefined {
  if (m.sha256 !== want.sha256) return `holder's sha256 ${m.sha256.slice(0, 12)} is not the manifest's ${want.sha256.slice(0, 12)}`
  if (m.size !== want.size) return `holder says ${m.size} bytes, the manifest ${want.size}`
  const chunkSize = chunkSizeFor(m.size)
  if (m.chunkSize !== chunkSize) return `chunk size ${m.chunkSize}, expected ${chunkSize}`
  if (m.chunkHashes.byteLength !== chunkCount(m.size, chunkSize) * 32) return `${m.chunkHashes.byteLength / 32} chunk hashes for ${chunkCount(m.size, chunkSize)} chunks`
  const root = chunkRoot(m.chunkHashes).toString('hex')
  if (root !== want.chunkRoot) return `chunk hashes do not match the manifest's chunk root`
  return undefined
}
