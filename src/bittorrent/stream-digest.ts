import { createHash, webcrypto, type Hash } from 'node:crypto'
import { chunkRoot, chunkSizeFor } from '../../protocols/blob/chunks.js'

/** What landing needs of a staged file: its SHA-256 and the catalog's chunk hashes. */
export interface StagedDigest {
  sha256: string
  chunkSize: number
  chunkHashes: Buffer
  chunkRoot: string
}

/**
 * The catalog's digest of a file (as src/catalog/hasher.ts computes it:
 * whole SHA-256, and SHA-256 of each chunk of `chunkSizeFor(size)`), fed
 * with the file's bytes in order, in pieces of any size. The whole-file hash
 * runs here; a chunk that lies whole in one update is hashed on the thread
 * pool (WebCrypto), off the event loop that also runs the download.
 */
export class StreamDigest {
  readonly #size: number
  readonly #chunkSize: number
  readonly #whole: Hash = createHash('sha256')
  #chunk: Hash = createHash('sha256')
  #inChunk = 0
  readonly #hashes: Promise<Buffer>[] = []
  #offset = 0

  constructor(size: number) {
    this.#size = size
    this.#chunkSize = chunkSizeFor(size)
  }

  get offset(): number {
    return this.#offset
  }

  update(buf: Uint8Array): void {
    if (this.#offset + buf.byteLength > this.#size) throw new RangeError('more bytes than the file has')
    this.#whole.update(buf)
    let at = 0
    while (at < buf.byteLength) {
      const whole = this.#inChunk === 0 ? Math.min(this.#chunkSize, this.#size - this.#offset - at) : 0
      if (whole > 0 && at + whole <= buf.byteLength) {
        this.#hashes.push(webcrypto.subtle.digest('SHA-256', buf.subarray(at, at + whole)).then((d) => Buffer.from(d)))
        at += whole
        continue
      }
      const take = Math.min(this.#chunkSize - this.#inChunk, buf.byteLength - at)
      this.#chunk.update(buf.subarray(at, at + take))
      this.#inChunk += take
      at += take
      if (this.#inChunk === this.#chunkSize) this.#endChunk()
    }
    this.#offset += buf.byteLength
    if (this.#offset === this.#size && this.#inChunk > 0) this.#endChunk()
  }

  #endChunk(): void {
    this.#hashes.push(Promise.resolve(this.#chunk.digest()))
    this.#chunk = createHash('sha256')
    this.#inChunk = 0
  }

  /** The digest once every byte was fed, else undefined. */
  async result(): Promise<StagedDigest | undefined> {
    if (this.#offset !== this.#size) return undefined
    const chunkHashes = Buffer.concat(await Promise.all(this.#hashes))
    if (this.#result == null) this.#result = this.#whole.digest('hex')
    return { sha256: this.#result, chunkSize: this.#chunkSize, chunkHashes, chunkRoot: chunkRoot(chunkHashes).toString('hex') }
  }

  #result: string | undefined
}
