import { createHash } from 'node:crypto'
import { close, constants, fstat, ftruncate, open, read, write } from 'node:fs'
import type { ChunkStore, ChunkStoreCallback, ChunkStoreConstructor, ChunkStoreOptions } from 'webtorrent'
import { errorMessage, FsyncError } from '../util/errors.js'
import { fsyncFd, type StagingFsync } from '../util/fs.js'
import { StreamDigest, type StagedDigest } from './stream-digest.js'

/**
 * Chunk stores webtorrent reads and writes pieces through. Both are bound to
 * one file meshsync names; the file names and paths in the torrent metadata
 * are never used. webtorrent constructs a store inside an un-awaited async
 * function, so nothing here throws from a constructor: a problem becomes an
 * error on the first operation.
 */

type Range = { offset?: number; length?: number } | null

function promisify<T>(fn: (cb: (err: NodeJS.ErrnoException | null, v: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err != null ? reject(err) : resolve(v))))
}

async function readExactly(fd: number, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length)
  let done = 0
  while (done < length) {
    const n = await promisify<number>((cb) => read(fd, buf, done, length - done, position + done, cb))
    if (n === 0) throw new Error(`short read at ${position + done}`)
    done += n
  }
  return buf
}

async function writeAll(fd: number, buf: Uint8Array, position: number): Promise<void> {
  let done = 0
  while (done < buf.byteLength) {
    const n = await promisify<number>((cb) => write(fd, buf, done, buf.byteLength - done, position + done, cb))
    done += n
  }
}

function pieceSpan(index: number, pieceLength: number, total: number): { start: number; len: number } | undefined {
  const start = index * pieceLength
  if (!Number.isInteger(index) || index < 0 || start >= total) return undefined
  return { start, len: Math.min(pieceLength, total - start) }
}

/**
 * The arguments of a chunk-store get(): the callback (given second or third) and the byte range. Answers
 * the callback with the error itself, and returns nothing, when the range is bad or the store is closed.
 */
function getRequest(
  index: number,
  opts: Range | ChunkStoreCallback<Uint8Array>,
  cb: ChunkStoreCallback<Uint8Array> | undefined,
  pieceLength: number,
  total: number,
  closed: boolean,
): { callback: ChunkStoreCallback<Uint8Array>; range: { pos: number; len: number } } | undefined {
  const callback = (typeof opts === 'function' ? opts : cb)!
  const range = rangeOf(index, pieceLength, total, typeof opts === 'function' ? null : opts)
  if (range instanceof Error || closed) {
    queueMicrotask(() => callback(range instanceof Error ? range : new Error('store closed')))
    return undefined
  }
  return { callback, range }
}

function rangeOf(index: number, pieceLength: number, total: number, opts: Range): { pos: number; len: number } | Error {
  const span = pieceSpan(index, pieceLength, total)
  if (span == null) return new Error(`piece ${index} out of range`)
  const offset = opts?.offset ?? 0
  const len = opts?.length ?? span.len - offset
  if (offset < 0 || len < 0 || offset + len > span.len) return new Error(`range ${offset}+${len} outside piece ${index}`)
  return { pos: span.start + offset, len }
}

/** Bytes of early pieces kept in memory for the streaming digest (beyond it they are read back). */
const MAX_AHEAD_BYTES = 32 * 1024 * 1024

export interface StagingStoreInit {
  /** The staging file (created if missing; its size is set to `size`). */
  path: string
  /** What the catalog says the file's size is; metadata of another size is refused. */
  size: number
  /** fsync at close (tests make it fail); default: fsync(2). */
  fsync?: StagingFsync
}

export interface StagingStoreHandle {
  Store: ChunkStoreConstructor
  /**
   * SHA-256 and chunk hashes of the file, computed in order as pieces were
   * written (so landing needs no second read); undefined when the file held
   * data from before (resumed) or is not complete.
   */
  digest(): Promise<StagedDigest | undefined>
  /** The FsyncError of the close, if its fsync failed: the staged bytes must not be used (webtorrent drops the close's error). */
  syncError(): FsyncError | undefined
}

/**
 * Read-write store for a download: piece i lives at i * pieceLength of the
 * staging file, the layout of the finished file, so what another transport
 * already wrote there is found (and re-verified) by webtorrent at start.
 * `close()` fsyncs.
 */
export function stagingStore(init: StagingStoreInit): StagingStoreHandle {
  let hasher: StreamDigest | undefined = new StreamDigest(init.size)
  let syncFailure: FsyncError | undefined
  const doFsync: StagingFsync = init.fsync ?? fsyncFd
  const Store = class StagingStore implements ChunkStore {
    readonly chunkLength: number
    readonly #total: number
    readonly #fd: Promise<number>
    /** Pieces that may hold data: all of them when the file existed, none when it is new. */
    readonly #maybe: Uint8Array
    #closed = false
    /** Next piece to feed the digest; pieces written past it (their bytes while few, else read back later). */
    #next = 0
    readonly #ahead = new Map<number, Uint8Array | null>()
    #aheadBytes = 0
    #hashing: Promise<void> | undefined

    constructor(chunkLength: number, opts: ChunkStoreOptions) {
      this.chunkLength = chunkLength
      this.#total = opts.length
      const n = Math.ceil(opts.length / chunkLength)
      const maybe = new Uint8Array(n)
      this.#maybe = maybe
      this.#fd = (async () => {
        if (opts.length !== init.size) throw new Error(`torrent length ${opts.length}, the catalog says ${init.size}`)
        const fd = await promisify<number>((cb) => open(init.path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o644, cb))
        const st = await promisify<{ size: number }>((cb) => fstat(fd, cb))
        if (st.size > 0) {
          maybe.fill(1)
          // what is there already is verified by webtorrent, not written through here: no digest on the way
          hasher = undefined
        }
        if (st.size !== init.size) await promisify<void>((c) => ftruncate(fd, init.size, (e) => c(e, undefined)))
        return fd
      })()
      this.#fd.catch(() => {})
    }

    put(index: number, buf: Uint8Array, cb: ChunkStoreCallback = () => {}): void {
      const span = pieceSpan(index, this.chunkLength, this.#total)
      if (this.#closed || span == null || buf.byteLength !== span.len) {
        queueMicrotask(() => cb(new Error(this.#closed ? 'store closed' : `piece ${index} of ${buf.byteLength} bytes does not fit`)))
        return
      }
      this.#fd
        .then((fd) => writeAll(fd, buf, span.start))
        .then(() => {
          this.#maybe[index] = 1
          this.#feed(index, buf)
          cb(null)
        }, cb)
    }

    /** Feeds the digest in file order: pieces that arrive early wait (in memory up to a bound, else on disk). */
    #feed(index: number, buf: Uint8Array): void {
      if (hasher == null || index < this.#next || this.#ahead.has(index)) return
      const keep = this.#aheadBytes + buf.byteLength <= MAX_AHEAD_BYTES
      this.#ahead.set(index, keep ? buf : null)
      if (keep) this.#aheadBytes += buf.byteLength
      this.#kick()
    }

    #kick(): void {
      if (this.#hashing != null) return
      this.#hashing = this.#drain().finally(() => {
        this.#hashing = undefined
        // a piece that came in as the drain ended
        if (hasher != null && this.#ahead.has(this.#next)) this.#kick()
      })
    }

    async #drain(): Promise<void> {
      try {
        for (let b = this.#ahead.get(this.#next); b !== undefined && hasher != null; b = this.#ahead.get(this.#next)) {
          this.#ahead.delete(this.#next)
          if (b != null) this.#aheadBytes -= b.byteLength
          else {
            const span = pieceSpan(this.#next, this.chunkLength, this.#total)!
            b = await readExactly(await this.#fd, span.len, span.start)
          }
          hasher.update(b)
          this.#next++
        }
      } catch {
        hasher = undefined
        this.#ahead.clear()
      }
    }

    get(index: number, opts: Range | ChunkStoreCallback<Uint8Array>, cb?: ChunkStoreCallback<Uint8Array>): void {
      const req = getRequest(index, opts, cb, this.chunkLength, this.#total, this.#closed)
      if (req == null) return
      const { callback, range } = req
      // after the open: it tells whether the file held data from before
      this.#fd
        .then((fd) => {
          if (this.#maybe[index] !== 1) throw new Error(`piece ${index} not written yet`)
          return readExactly(fd, range.len, range.pos)
        })
        .then((b) => callback(null, b), callback)
    }

    close(cb: ChunkStoreCallback = () => {}): void {
      if (this.#closed) {
        queueMicrotask(() => cb(null))
        return
      }
      this.#closed = true
      this.#fd
        .then(async (fd) => {
          try {
            while (this.#hashing != null) await this.#hashing
            this.#ahead.clear()
            try {
              await doFsync(fd)
            } catch (err) {
              syncFailure = new FsyncError(`fsync of ${init.path} failed (${errorMessage(err)}); its bytes are not used`, { cause: err })
              throw syncFailure
            }
          } finally {
            // closed whatever happened (a failed fsync left the descriptor open before)
            await promisify<void>((c) => close(fd, (e) => c(e, undefined)))
          }
        })
        .then(() => cb(null), (err) => cb(err as Error))
    }

    /** Same as close: the staging file belongs to the transfer manager, never deleted here. */
    destroy(cb: ChunkStoreCallback = () => {}): void {
      this.close(cb)
    }
  }
  return { Store, digest: async () => hasher?.result(), syncError: () => syncFailure }
}

export interface SeedStoreInit {
  /** The file to serve (a data-dir file, or the snapshot served in place of a live database). */
  path: string
  size: number
  /** SHA-1 of each piece (20 bytes each): every piece is checked once, on its first read. */
  pieces?: Buffer
  /** A piece no longer matches (the file changed or rotted): it is not served. */
  onMismatch?: (index: number) => void
  /** debug.corruptTorrents: changes the bytes as read (the metadata was built the same way). */
  transform?: (buf: Buffer, offset: number, pieceLength: number) => void
}

/** Bytes of whole pieces a seed store keeps (the blocks of a piece are asked for one after another). */
const SEED_CACHE_BYTES = 16 * 1024 * 1024

/**
 * Read-only store for seeding a file in place. Writes are refused, destroy
 * never deletes. A piece is read whole when its first block is asked for and
 * kept for its other blocks (a few pieces at most). With `pieces`, its SHA-1
 * is checked on that first read, so rot at the source is not sent (as
 * transfer.verifyOnSend does for libp2p).
 */
export function seedStore(init: SeedStoreInit): ChunkStoreConstructor {
  return class SeedStore implements ChunkStore {
    readonly chunkLength: number
    readonly #total: number
    readonly #fd: Promise<number>
    readonly #verified: Uint8Array
    readonly #loading = new Map<number, Promise<Buffer>>()
    /** Whole pieces read lately, oldest first. */
    readonly #recent = new Map<number, Buffer>()
    #recentBytes = 0
    #closed = false

    constructor(chunkLength: number, opts: ChunkStoreOptions) {
      this.chunkLength = chunkLength
      this.#total = opts.length
      this.#verified = new Uint8Array(Math.ceil(opts.length / chunkLength))
      if (init.pieces == null) this.#verified.fill(1)
      this.#fd = (async () => {
        if (opts.length !== init.size) throw new Error(`torrent length ${opts.length}, the file has ${init.size}`)
        const fd = await promisify<number>((cb) => open(init.path, constants.O_RDONLY | constants.O_NOFOLLOW, cb))
        const st = await promisify<{ size: number }>((cb) => fstat(fd, cb))
        if (st.size !== init.size) {
          close(fd, () => {})
          throw new Error(`${init.path} has ${st.size} bytes, expected ${init.size}`)
        }
        return fd
      })()
      this.#fd.catch(() => {})
    }

    put(_index: number, _buf: Uint8Array, cb: ChunkStoreCallback = () => {}): void {
      queueMicrotask(() => cb(new Error('read-only store')))
    }

    get(index: number, opts: Range | ChunkStoreCallback<Uint8Array>, cb?: ChunkStoreCallback<Uint8Array>): void {
      const req = getRequest(index, opts, cb, this.chunkLength, this.#total, this.#closed)
      if (req == null) return
      const { callback, range } = req
      this.#read(index, range.pos, range.len).then((b) => callback(null, b), callback)
    }

    async #read(index: number, pos: number, len: number): Promise<Buffer> {
      const fd = await this.#fd
      const start = index * this.chunkLength
      let piece = this.#recent.get(index)
      // a piece not checked yet, or the first block of one: read it whole
      if (piece == null && (this.#verified[index] !== 1 || pos === start)) piece = await this.#load(fd, index)
      if (piece != null) return piece.subarray(pos - start, pos - start + len)
      const buf = await readExactly(fd, len, pos)
      init.transform?.(buf, pos, this.chunkLength)
      return buf
    }

    #load(fd: number, index: number): Promise<Buffer> {
      let p = this.#loading.get(index)
      if (p == null) {
        p = (async () => {
          const span = pieceSpan(index, this.chunkLength, this.#total)!
          const buf = await readExactly(fd, span.len, span.start)
          init.transform?.(buf, span.start, this.chunkLength)
          if (this.#verified[index] !== 1) {
            if (!createHash('sha1').update(buf).digest().equals(init.pieces!.subarray(index * 20, index * 20 + 20))) {
              init.onMismatch?.(index)
              throw new Error(`piece ${index} no longer matches its hash`)
            }
            this.#verified[index] = 1
          }
          this.#remember(index, buf)
          return buf
        })().finally(() => this.#loading.delete(index))
        this.#loading.set(index, p)
      }
      return p
    }

    #remember(index: number, buf: Buffer): void {
      this.#recent.set(index, buf)
      this.#recentBytes += buf.length
      for (const [i, b] of this.#recent) {
        if (this.#recentBytes <= SEED_CACHE_BYTES || this.#recent.size <= 1) break
        this.#recent.delete(i)
        this.#recentBytes -= b.length
      }
    }

    close(cb: ChunkStoreCallback = () => {}): void {
      if (this.#closed) {
        queueMicrotask(() => cb(null))
        return
      }
      this.#closed = true
      this.#recent.clear()
      this.#fd.then((fd) => close(fd, () => cb(null)), () => cb(null))
    }

    destroy(cb: ChunkStoreCallback = () => {}): void {
      this.close(cb)
    }
  }
}
