import { createHash } from 'node:crypto'
import { InvalidMessageError } from '../../src/util/errors.js'
import { relativePathProblem } from '../common/path.js'
import { MAX_DELTA_BYTES, MAX_DELTA_ENTRIES, MAX_PAGE_BYTES, MAX_PAGE_ENTRIES, MAX_REQUEST_BYTES } from './constants.js'
import { FileEntry as PbEntry, FileKind, ManifestDelta as PbDelta, ManifestPage as PbPage, ManifestPageRequest } from './manifest.pb.js'

export type EntryKind = 'sqlite' | 'npz' | 'model' | 'other'

/** A file as a node holds it (hashes as lower-case hex). */
export interface ManifestEntry {
  path: string
  sha256: string
  size: number
  kind: EntryKind
  origin: string
  version: number
  mtimeMs: number
  chunkRoot: string
  infoHash?: string
  promoted: boolean
}

export interface ManifestDelta {
  seq: number
  prevSeq: number
  timeMs: number
  upserts: ManifestEntry[]
  removed: string[]
}

export interface ManifestPage {
  seq: number
  entries: ManifestEntry[]
  more: boolean
  digest: string
  count: number
}

const KIND_TO_PB: Record<EntryKind, FileKind> = { other: FileKind.OTHER, sqlite: FileKind.SQLITE, npz: FileKind.NPZ, model: FileKind.MODEL }
const PB_TO_KIND: Record<string, EntryKind> = { OTHER: 'other', SQLITE: 'sqlite', NPZ: 'npz', MODEL: 'model' }
const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{40,60}$/

/** Path order on the wire: by UTF-8 bytes (what SQLite's BINARY collation does). */
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

/**
 * The digest of a manifest: XOR of SHA-256 over each entry's protobuf
 * encoding. Order-free and updatable one entry at a time; two nodes whose
 * views of a manifest agree compute the same digest.
 */
export function entryDigest(e: ManifestEntry): Buffer {
  return createHash('sha256').update(PbEntry.encode(toPb(e))).digest()
}

export function xorInto(acc: Buffer, d: Uint8Array): void {
  for (let i = 0; i < 32; i++) acc[i] = (acc[i] ?? 0) ^ (d[i] ?? 0)
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}
function bytes(h: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(h, 'hex'))
}

function toPb(e: ManifestEntry): PbEntry {
  return {
    path: e.path,
    sha256: bytes(e.sha256),
    size: e.size,
    kind: KIND_TO_PB[e.kind],
    origin: e.origin,
    version: e.version,
    mtimeMs: Math.max(0, Math.floor(e.mtimeMs)),
    chunkRoot: bytes(e.chunkRoot),
    infoHash: e.infoHash != null ? bytes(e.infoHash) : undefined,
    promoted: e.promoted,
  }
}

/** Checks one entry from a peer; the error says which field is wrong. */
function fromPb(e: PbEntry, where: string): ManifestEntry {
  const problem = relativePathProblem(e.path)
  if (problem != null) throw new InvalidMessageError(`${where}: path ${JSON.stringify(e.path.slice(0, 120))}: ${problem}`)
  if (e.sha256.byteLength !== 32) throw new InvalidMessageError(`${where} ${e.path}: sha256 must be 32 bytes`)
  if (e.chunkRoot.byteLength !== 32) throw new InvalidMessageError(`${where} ${e.path}: chunk_root must be 32 bytes`)
  if (e.infoHash != null && e.infoHash.byteLength !== 20) throw new InvalidMessageError(`${where} ${e.path}: info_hash must be 20 bytes`)
  if (!Number.isSafeInteger(e.size) || e.size < 0) throw new InvalidMessageError(`${where} ${e.path}: bad size`)
  if (!Number.isSafeInteger(e.version) || e.version < 1) throw new InvalidMessageError(`${where} ${e.path}: version must be >= 1`)
  if (!PEER_ID.test(e.origin)) throw new InvalidMessageError(`${where} ${e.path}: origin is not a peer ID`)
  const kind = PB_TO_KIND[String(e.kind)]
  if (kind == null) throw new InvalidMessageError(`${where} ${e.path}: unknown kind`)
  return {
    path: e.path,
    sha256: hex(e.sha256),
    size: e.size,
    kind,
    origin: e.origin,
    version: e.version,
    mtimeMs: e.mtimeMs,
    chunkRoot: hex(e.chunkRoot),
    infoHash: e.infoHash != null ? hex(e.infoHash) : undefined,
    promoted: e.promoted,
  }
}

export function encodeDelta(d: ManifestDelta): Uint8Array {
  return PbDelta.encode({ seq: d.seq, prevSeq: d.prevSeq, timeMs: d.timeMs, upserts: d.upserts.map(toPb), removed: d.removed })
}

/** Decodes and validates a delta from a peer. Throws InvalidMessageError. */
export function decodeDelta(data: Uint8Array): ManifestDelta {
  if (data.byteLength > MAX_DELTA_BYTES) throw new InvalidMessageError(`manifest delta of ${data.byteLength} bytes is over ${MAX_DELTA_BYTES}`)
  let d: PbDelta
  try {
    d = PbDelta.decode(data, { limits: { upserts: MAX_DELTA_ENTRIES, removed: MAX_DELTA_ENTRIES } })
  } catch (err) {
    throw new InvalidMessageError(`manifest delta does not decode: ${(err as Error).message}`)
  }
  if (d.upserts.length + d.removed.length > MAX_DELTA_ENTRIES) throw new InvalidMessageError('manifest delta has too many entries')
  if (!Number.isSafeInteger(d.seq) || d.seq < 1) throw new InvalidMessageError('manifest delta seq must be >= 1')
  if (d.prevSeq >= d.seq) throw new InvalidMessageError('manifest delta prev_seq must be below seq')
  const seen = new Set<string>()
  const upserts = d.upserts.map((e) => {
    const entry = fromPb(e, 'manifest delta entry')
    if (seen.has(entry.path)) throw new InvalidMessageError(`manifest delta names ${entry.path} twice`)
    seen.add(entry.path)
    return entry
  })
  for (const p of d.removed) {
    const problem = relativePathProblem(p)
    if (problem != null) throw new InvalidMessageError(`manifest delta removal ${JSON.stringify(p.slice(0, 120))}: ${problem}`)
    if (seen.has(p)) throw new InvalidMessageError(`manifest delta names ${p} twice`)
    seen.add(p)
  }
  return { seq: d.seq, prevSeq: d.prevSeq, timeMs: d.timeMs, upserts, removed: d.removed }
}

export function encodePageRequest(after: string, limit: number): Uint8Array {
  return ManifestPageRequest.encode({ after, limit })
}

export function decodePageRequest(data: Uint8Array): { after: string; limit: number } {
  if (data.byteLength > MAX_REQUEST_BYTES) throw new InvalidMessageError('manifest page request too large')
  let r: ManifestPageRequest
  try {
    r = ManifestPageRequest.decode(data)
  } catch (err) {
    throw new InvalidMessageError(`manifest page request does not decode: ${(err as Error).message}`)
  }
  if (r.after !== '' && relativePathProblem(r.after) != null) throw new InvalidMessageError('manifest page request: bad cursor')
  return { after: r.after, limit: Math.max(1, Math.min(MAX_PAGE_ENTRIES, r.limit || MAX_PAGE_ENTRIES)) }
}

export function encodePage(p: ManifestPage): Uint8Array {
  return PbPage.encode({ seq: p.seq, entries: p.entries.map(toPb), more: p.more, digest: bytes(p.digest), count: p.count })
}

export function decodePage(data: Uint8Array, after: string): ManifestPage {
  if (data.byteLength > MAX_PAGE_BYTES) throw new InvalidMessageError(`manifest page of ${data.byteLength} bytes is over ${MAX_PAGE_BYTES}`)
  let p: PbPage
  try {
    p = PbPage.decode(data, { limits: { entries: MAX_PAGE_ENTRIES } })
  } catch (err) {
    throw new InvalidMessageError(`manifest page does not decode: ${(err as Error).message}`)
  }
  if (p.digest.byteLength !== 32) throw new InvalidMessageError('manifest page digest must be 32 bytes')
  let last = after
  const entries = p.entries.map((e) => {
    const entry = fromPb(e, 'manifest page entry')
    if (comparePaths(entry.path, last) <= 0) throw new InvalidMessageError(`manifest page is not sorted after ${JSON.stringify(last)}`)
    last = entry.path
    return entry
  })
  return { seq: p.seq, entries, more: p.more, digest: hex(p.digest), count: p.count }
}
