import { createHash } from 'node:crypto'
import { constants } from 'node:fs'
import { open } from 'node:fs/promises'
import parseTorrent from 'parse-torrent'
import { PieceHasher } from '../catalog/hasher.js'
import { InvalidMessageError } from '../util/errors.js'
import { bencode } from './bencode.js'

/**
 * Deterministic torrent metadata for a file meshsync holds. Every holder of
 * the same bytes builds the same info dict, so the same infoHash, without
 * exchanging anything: one file, named by its SHA-256 (never a path), piece
 * length a function of the size only, the private flag set, no other keys.
 * Trackers sit outside the info dict (they never change the infoHash).
 */
export interface TorrentMeta {
  /** 40 lower-case hex digits. */
  infoHash: string
  /** The file's SHA-256 (the torrent's name). */
  name: string
  length: number
  pieceLength: number
  /** SHA-1 of every piece, 20 bytes each. */
  pieces: Buffer
  /** The bencoded info dict (the infoHash is its SHA-1). */
  info: Buffer
}

export const MIN_PIECE_LENGTH = 1 << 20
export const MAX_PIECE_LENGTH = 16 << 20
const INFO_HASH = /^[0-9a-f]{40}$/
const SHA256 = /^[0-9a-f]{64}$/

/** About 2,000 pieces: 1 MiB up to 4 GiB, then doubling, at most 16 MiB. A power of two. */
export function pieceLengthFor(size: number): number {
  let p = MIN_PIECE_LENGTH
  while (p < MAX_PIECE_LENGTH && p * 2048 < size) p *= 2
  return p
}

export function isInfoHash(v: unknown): v is string {
  return typeof v === 'string' && INFO_HASH.test(v)
}

/** Builds the info dict from the piece hashes (no I/O). */
export function metaFromPieces(name: string, length: number, pieceLength: number, pieces: Buffer): TorrentMeta {
  const info = bencode({ length, name, 'piece length': pieceLength, pieces, private: 1 })
  return { infoHash: createHash('sha1').update(info).digest('hex'), name, length, pieceLength, pieces, info }
}

export interface CreateOptions {
  /** The file's SHA-256: the torrent's name. */
  sha256: string
  signal?: AbortSignal
  /**
   * Changes the bytes as read, in place, before they are hashed (`offset` is
   * the position of `buf` in the file). Only for debug.corruptTorrents.
   */
  transform?: (buf: Buffer, offset: number, pieceLength: number) => void
  /** The caller has just checked the file's SHA-256 (landing): it is not computed again. */
  verified?: boolean
}

/**
 * Reads the file once and hashes each piece with SHA-1, and the whole with
 * SHA-256, which must be `sha256`: a torrent never describes other bytes
 * than its name says. The file is opened without following a symlink; if it
 * changes while it is read the result is refused.
 */
export async function createTorrentMeta(path: string, opts: CreateOptions): Promise<TorrentMeta> {
  if (!SHA256.test(opts.sha256)) throw new TypeError('the torrent name must be a SHA-256 in hex')
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw new Error(`${path} is not a regular file`)
    const size = st.size
    const pieceLength = pieceLengthFor(size)
    const pieces = new PieceHasher(size, pieceLength)
    const buf = Buffer.allocUnsafe(Math.min(pieceLength, 4 << 20))
    const whole = opts.verified === true ? undefined : createHash('sha256')
    for (let offset = 0; offset < size; ) {
      opts.signal?.throwIfAborted()
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - offset), offset)
      if (bytesRead === 0) throw new Error(`${path} shrank while it was read`)
      const view = buf.subarray(0, bytesRead)
      whole?.update(view)
      opts.transform?.(view, offset, pieceLength)
      pieces.update(view)
      offset += bytesRead
    }
    const after = await fh.stat()
    if (after.size !== size || after.mtimeMs !== st.mtimeMs) throw new Error(`${path} changed while it was read`)
    const sha256 = whole?.digest('hex') ?? opts.sha256
    if (sha256 !== opts.sha256) throw new Error(`${path} hashes to ${sha256.slice(0, 12)} now, not ${opts.sha256.slice(0, 12)}`)
    return metaFromPieces(opts.sha256, size, pieceLength, pieces.finish().hashes)
  } finally {
    await fh.close()
  }
}

/** A .torrent file: the info dict, plus trackers when there are any. */
export function torrentFile(meta: TorrentMeta, trackers: string[] = []): Buffer {
  const head: Buffer[] = [Buffer.from('d')]
  if (trackers.length > 0) {
    head.push(bencode('announce'), bencode(trackers[0]!), bencode('announce-list'), bencode(trackers.map((t) => [t])))
  }
  return Buffer.concat([...head, bencode('info'), meta.info, Buffer.from('e')])
}

/** A magnet link with only the infoHash, the name and the given trackers (no peers, no URLs to fetch). */
export function magnetURI(infoHash: string, opts: { name?: string; trackers?: string[] } = {}): string {
  if (!isInfoHash(infoHash)) throw new TypeError('not an infoHash')
  const parts = [`xt=urn:btih:${infoHash}`]
  if (opts.name != null) parts.push(`dn=${encodeURIComponent(opts.name)}`)
  for (const t of opts.trackers ?? []) parts.push(`tr=${encodeURIComponent(t)}`)
  return `magnet:?${parts.join('&')}`
}

/**
 * Reads back a .torrent meshsync wrote (its cache), checking that it is the
 * deterministic single-file, private torrent of the file `sha256` of `size` bytes.
 */
export async function readTorrentFile(bytes: Uint8Array, expect: { sha256: string; size: number }): Promise<TorrentMeta> {
  let parsed: Awaited<ReturnType<typeof parseTorrent>>
  try {
    parsed = await parseTorrent(bytes)
  } catch (err) {
    throw new InvalidMessageError(`torrent does not parse: ${(err as Error).message}`)
  }
  const pieces = Buffer.from((parsed.pieces ?? []).join(''), 'hex')
  const info = parsed.infoBuffer != null ? Buffer.from(parsed.infoBuffer) : undefined
  if (info == null || parsed.pieceLength == null || parsed.length == null) throw new InvalidMessageError('torrent has no info dict')
  const meta = metaFromPieces(expect.sha256, expect.size, pieceLengthFor(expect.size), pieces)
  // rebuilt from the expectations: equal only if every field of the info dict is the deterministic one
  if (!meta.info.equals(info) || meta.infoHash !== parsed.infoHash) throw new InvalidMessageError(`torrent is not meshsync's torrent of ${expect.sha256.slice(0, 12)}`)
  return meta
}
