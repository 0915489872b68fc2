import { createHash } from 'node:crypto'
import { constants } from 'node:fs'
import { open } from 'node:fs/promises'
import { chunkRoot, chunkSizeFor } from '../../protocols/blob/chunks.js'

export interface FileDigest {
  size: number
  sha256: string
  chunkSize: number
  /** 32 bytes per chunk. */
  chunkHashes: Buffer
  chunkRoot: string
  /** SHA-1 of every piece, when asked for (a BitTorrent torrent's pieces, from the same read). */
  sha1Pieces?: Sha1Pieces
}

/** SHA-1 of each piece of `pieceLength` bytes, 20 bytes each. */
export interface Sha1Pieces {
  pieceLength: number
  hashes: Buffer
}

export interface DigestOptions {
  signal?: AbortSignal
  /**
   * Also hash pieces of this length with SHA-1, in the same read (undefined
   * for none). The node asks for it for files that get a torrent, so a large
   * file is read once at scan, not once for the catalog and again for its torrent.
   */
  sha1PieceLength?: (size: number) => number | undefined
}

/**
 * One read of the file: its SHA-256, the SHA-256 of each chunk and, if asked
 * for, the SHA-1 of each piece at another length. The file
 * is opened without following a symlink; if its size changes while it is
 * read, the digest is refused (the caller retries once the file is stable).
 */
export async function digestFile(path: string, options: DigestOptions = {}): Promise<FileDigest> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw new Error(`${path} is not a regular file`)
    const size = st.size
    const chunkSize = chunkSizeFor(size)
    const whole = createHash('sha256')
    const hashes: Buffer[] = []
    const pieceLength = options.sha1PieceLength?.(size)
    const pieces = pieceLength != null ? new PieceHasher(size, pieceLength) : undefined
    const buf = Buffer.allocUnsafe(Math.min(chunkSize, 4 * 1024 * 1024))
    let offset = 0
    while (offset < size) {
      options.signal?.throwIfAborted()
      const chunk = createHash('sha256')
      const end = Math.min(size, offset + chunkSize)
      while (offset < end) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - offset), offset)
        if (bytesRead === 0) throw new Error(`${path} shrank while it was read`)
        const view = buf.subarray(0, bytesRead)
        whole.update(view)
        chunk.update(view)
        pieces?.update(view)
        offset += bytesRead
      }
      hashes.push(chunk.digest())
    }
    const after = await fh.stat()
    if (after.size !== size || after.mtimeMs !== st.mtimeMs) throw new Error(`${path} changed while it was read`)
    const chunkHashes = Buffer.concat(hashes)
    const digest: FileDigest = { size, sha256: whole.digest('hex'), chunkSize, chunkHashes, chunkRoot: chunkRoot(chunkHashes).toString('hex') }
    if (pieces != null) digest.sha1Pieces = pieces.finish()
    return digest
  } finally {
    await fh.close()
  }
}

/**
 * SHA-256 and length of a whole file, read in 4 MiB blocks without following
 * a symlink. `sync`: fsync it first (an attestation speaks of what is on the
 * disk). `rate`: pace the reads to at most this many bytes per second (the scrub).
 */
export async function hashWholeFile(path: string, opts: { signal?: AbortSignal; sync?: boolean; rate?: number } = {}): Promise<{ sha256: string; size: number }> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  try {
    if (opts.sync === true) await fh.sync()
    const h = createHash('sha256')
    const buf = Buffer.allocUnsafe(4 * 1024 * 1024)
    const rate = opts.rate ?? 0
    const t0 = performance.now()
    let size = 0
    for (;;) {
      opts.signal?.throwIfAborted()
      const { bytesRead } = await fh.read(buf, 0, buf.length, size)
      if (bytesRead === 0) break
      h.update(buf.subarray(0, bytesRead))
      size += bytesRead
      if (rate > 0) {
        const ahead = (size / rate) * 1000 - (performance.now() - t0)
        if (ahead > 1) await new Promise((r) => setTimeout(r, ahead))
      }
    }
    return { sha256: h.digest('hex'), size }
  } finally {
    await fh.close()
  }
}

/** SHA-1 of consecutive pieces of `pieceLength` bytes, fed in order, in views of any size. */
export class PieceHasher {
  readonly #hashes: Buffer
  readonly #pieceLength: number
  #index = 0
  #filled = 0
  #h = createHash('sha1')

  constructor(size: number, pieceLength: number) {
    if (!Number.isInteger(pieceLength) || pieceLength <= 0) throw new RangeError(`piece length ${pieceLength} is not a positive integer`)
    this.#pieceLength = pieceLength
    this.#hashes = Buffer.alloc(Math.ceil(size / pieceLength) * 20)
  }

  update(view: Uint8Array): void {
    let at = 0
    while (at < view.length) {
      const take = Math.min(view.length - at, this.#pieceLength - this.#filled)
      this.#h.update(view.subarray(at, at + take))
      at += take
      this.#filled += take
      if (this.#filled === this.#pieceLength) this.#next()
    }
  }

  finish(): Sha1Pieces {
    if (this.#filled > 0) this.#next()
    return { pieceLength: this.#pieceLength, hashes: this.#hashes }
  }

  #next(): void {
    this.#h.digest().copy(this.#hashes, this.#index++ * 20)
    this.#h = createHash('sha1')
    this.#filled = 0
  }
}
