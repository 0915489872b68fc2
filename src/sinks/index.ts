import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { ManifestEntry } from '../../protocols/manifest/index.js'
import { MeshsyncError } from '../util/errors.js'
import { relativePathProblem } from '../../protocols/common/path.js'

/**
 * Backup sinks: S3-compatible object storage (s3.ts) and mounted paths
 * (path.ts). A sink holds content-addressed blobs, `<prefix>/blobs/<sha256>`,
 * each with its SHA-256, size, kind and chunk root as metadata, and one
 * readable index object per path, version and origin,
 * `<prefix>/index/<path>@<version>.<origin>.json`, which holds the manifest
 * entry: the index alone rebuilds a cluster's manifest.
 */

export interface BlobMeta {
  sha256: string
  size: number
  kind: string
  chunkRoot: string
}

/** What a sink says about a blob it holds: its size and the checksum stored with it. */
export interface BlobHead {
  size: number
  /** The SHA-256 recorded in the object's metadata (undefined if the object has none). */
  sha256: string | undefined
  /** Why the stored checksum could not be read (metadata over its size bound...): the copy cannot be verified. */
  problem?: string
}

export interface SinkCallOptions {
  signal?: AbortSignal
}

export interface ListIndexOptions extends SinkCallOptions {
  /** An index object refused (over MAX_INDEX_BYTES): the listing goes on without it; default: ignored. */
  onRefused?: (err: SinkError) => void
}

export interface Sink {
  readonly name: string
  readonly type: 's3' | 'path'
  /** Checks the sink is reachable and usable (bucket there, credentials accepted, path mounted). Throws SinkError. */
  probe(opts?: SinkCallOptions): Promise<void>
  /** Stores a blob from a stream of the verified local file. Throws SinkError. */
  put(meta: BlobMeta, body: Readable, opts?: SinkCallOptions): Promise<void>
  /** The blob's size and stored checksum, or undefined if the sink does not hold it. */
  head(sha256: string, opts?: SinkCallOptions): Promise<BlobHead | undefined>
  /** The blob's bytes. Throws SinkError (reason 'missing' if absent). */
  get(sha256: string, opts?: SinkCallOptions): Promise<Readable>
  /** Removes a blob that failed its re-hash (a corrupt object must stop counting on every node, which only read its metadata). */
  remove(sha256: string, opts?: SinkCallOptions): Promise<void>
  putIndex(entry: ManifestEntry, opts?: SinkCallOptions): Promise<void>
  /** Every index entry in the sink (bounded per object; malformed ones are skipped). */
  listIndex(opts?: ListIndexOptions): AsyncIterable<ManifestEntry>
}

export type SinkFailure = 'credentials' | 'bucket' | 'unreachable' | 'throttled' | 'unmounted' | 'full' | 'missing' | 'corrupt' | 'other'

/** A sink refused or failed a call; the message names the sink. */
export class SinkError extends MeshsyncError {
  readonly sink: string
  readonly reason: SinkFailure
  constructor(sink: string, reason: SinkFailure, message: string, options?: ErrorOptions) {
    super('ERR_SINK', `sink '${sink}': ${message}`, options)
    this.sink = sink
    this.reason = reason
  }

  /** Worth retrying after a backoff (the others need an operator). */
  get transient(): boolean {
    return this.reason === 'unreachable' || this.reason === 'throttled' || this.reason === 'other'
  }
}

export const BLOBS = 'blobs'
export const INDEX = 'index'
/** Largest index object read back (a manifest entry is a few hundred bytes). */
export const MAX_INDEX_BYTES = 64 * 1024
export const SHA256_HEX = /^[0-9a-f]{64}$/

/** Largest blob metadata file (a path sink's `<sha256>.meta.json`) read back. */
export const MAX_META_BYTES = 4 * 1024

/**
 * The index object's name for an entry, relative to the sink's prefix. The
 * origin is part of it: two nodes that each wrote `games/a.db` version 1
 * (versions count per origin) would otherwise overwrite each other's index
 * object, and a restore would bring back only one of them. A peer ID is
 * key-safe as it is; any other origin is replaced by a hash of it.
 */
export function indexKey(e: Pick<ManifestEntry, 'path' | 'version' | 'origin'>): string {
  const origin = /^[A-Za-z0-9_-]{1,128}$/.test(e.origin) ? e.origin : `h${createHash('sha256').update(e.origin).digest('hex').slice(0, 32)}`
  return `${INDEX}/${e.path}@${e.version}.${origin}.json`
}

/** Parses an index object; undefined when it is not a plausible manifest entry (a sink is not trusted either). */
export function parseIndex(text: string): ManifestEntry | undefined {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return undefined
  }
  if (v == null || typeof v !== 'object') return undefined
  const o = v as Record<string, unknown>
  const str = (k: string): string | undefined => (typeof o[k] === 'string' ? (o[k] as string) : undefined)
  const num = (k: string): number | undefined => (typeof o[k] === 'number' && Number.isSafeInteger(o[k]) && (o[k] as number) >= 0 ? (o[k] as number) : undefined)
  const path = str('path')
  const sha256 = str('sha256')
  const kind = str('kind')
  const origin = str('origin')
  const chunkRoot = str('chunkRoot')
  const size = num('size')
  const version = num('version')
  const mtimeMs = typeof o.mtimeMs === 'number' && Number.isFinite(o.mtimeMs) ? o.mtimeMs : 0
  if (path == null || sha256 == null || !SHA256_HEX.test(sha256) || origin == null || chunkRoot == null || size == null || version == null) return undefined
  if (kind !== 'sqlite' && kind !== 'npz' && kind !== 'model' && kind !== 'other') return undefined
  // a bucket is no more trusted than a peer: the same path rule as a manifest from the mesh
  if (relativePathProblem(path) != null) return undefined
  return { path, sha256, size, kind, origin, version, mtimeMs, chunkRoot, promoted: o.promoted === true }
}

export function indexText(e: ManifestEntry): string {
  const { path, sha256, size, kind, origin, version, mtimeMs, chunkRoot, promoted } = e
  return `${JSON.stringify({ path, sha256, size, kind, origin, version, mtimeMs, chunkRoot, promoted }, null, 2)}\n`
}
