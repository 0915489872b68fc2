import { randomBytes } from 'node:crypto'
import { constants, createReadStream } from 'node:fs'
import { lstat, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import type { ManifestEntry } from '../../protocols/manifest/index.js'
import { MeshsyncError, ValidationError } from '../util/errors.js'
import { fsyncDir, prepareTarget, writeFileAtomic } from '../util/fs.js'
import {
  BLOBS,
  INDEX,
  type ListIndexOptions,
  MAX_INDEX_BYTES,
  MAX_META_BYTES,
  SHA256_HEX,
  type BlobHead,
  type BlobMeta,
  indexKey,
  indexText,
  parseIndex,
  type Sink,
  type SinkCallOptions,
  SinkError,
} from './index.js'

/** The file that marks a folder as a sink; written by `initPathSink` when the operator sets it up. */
export const SINK_MARKER = '.meshsync-sink'
const STAGING = '.staging'

/**
 * Creates the marker in a mounted folder, once, when the operator configures
 * it. Without the marker a path sink refuses every call, so a mount point
 * that disappeared is never filled as an empty folder on the root disk.
 */
export async function initPathSink(root: string): Promise<void> {
  // never created here: a missing folder is a drive that is not mounted
  let ok = false
  try {
    ok = (await stat(root)).isDirectory()
  } catch {
    ok = false
  }
  if (!ok) throw new ValidationError(`${root} is not an existing folder: mount the drive (or create the folder) first`)
  await writeFileAtomic(join(root, SINK_MARKER), `meshsync sink\n`)
}

/**
 * A sink in a mounted folder (an external drive). Blobs are written like
 * landing: a staging name, fsync, rename, fsync of the folder. The blob's
 * metadata lives beside it in `<sha256>.meta.json`, written after the blob.
 */
export class PathSink implements Sink {
  readonly type = 'path' as const
  readonly name: string
  readonly #root: string

  constructor(name: string, root: string) {
    this.name = name
    this.#root = root
  }

  async probe(_opts: SinkCallOptions = {}): Promise<void> {
    try {
      const st = await lstat(join(this.#root, SINK_MARKER))
      if (!st.isFile()) throw new Error('not a file')
    } catch (err) {
      throw new SinkError(this.name, 'unmounted', `${this.#root} has no ${SINK_MARKER} marker: not mounted, or never set up (meshsync sink init); refusing to write`, { cause: err })
    }
  }

  async put(meta: BlobMeta, body: Readable, opts: SinkCallOptions = {}): Promise<void> {
    await this.probe(opts)
    this.#sha(meta.sha256)
    const dir = join(this.#root, BLOBS)
    const staging = join(this.#root, STAGING)
    await mkdir(dir, { recursive: true })
    await mkdir(staging, { recursive: true })
    const tmp = join(staging, `${meta.sha256}.${randomBytes(6).toString('hex')}`)
    try {
      const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644)
      try {
        for await (const chunk of body) {
          opts.signal?.throwIfAborted()
          const b = chunk as Buffer
          await fh.write(b, 0, b.byteLength)
        }
        await fh.sync()
      } finally {
        await fh.close()
      }
      const st = await stat(tmp)
      if (st.size !== meta.size) throw new SinkError(this.name, 'corrupt', `blob ${meta.sha256.slice(0, 12)}: wrote ${st.size} bytes, expected ${meta.size}`)
      await rename(tmp, join(dir, meta.sha256))
      await writeFileAtomic(join(dir, `${meta.sha256}.meta.json`), JSON.stringify(meta))
      await fsyncDir(dir)
    } catch (err) {
      await rm(tmp, { force: true })
      throw this.#wrap(err, `writing blob ${meta.sha256.slice(0, 12)}`)
    }
  }

  async head(sha256: string, opts: SinkCallOptions = {}): Promise<BlobHead | undefined> {
    await this.probe(opts)
    this.#sha(sha256)
    const file = join(this.#root, BLOBS, sha256)
    let size: number
    try {
      size = (await stat(file)).size
    } catch {
      return undefined
    }
    let recorded: string | undefined
    try {
      const m = JSON.parse(await this.#readBounded(`${file}.meta.json`, MAX_META_BYTES)) as { sha256?: unknown }
      recorded = typeof m.sha256 === 'string' ? m.sha256 : undefined
    } catch (err) {
      // an oversized metadata file is not read at all: the copy cannot be verified, and says why
      if (err instanceof SinkError) return { size, sha256: undefined, problem: err.message }
      recorded = undefined
    }
    return { size, sha256: recorded }
  }

  async get(sha256: string, opts: SinkCallOptions = {}): Promise<Readable> {
    await this.probe(opts)
    this.#sha(sha256)
    const file = join(this.#root, BLOBS, sha256)
    try {
      await stat(file)
    } catch (err) {
      throw new SinkError(this.name, 'missing', `holds no blob ${sha256.slice(0, 12)}`, { cause: err })
    }
    return createReadStream(file, { signal: opts.signal })
  }

  async remove(sha256: string, opts: SinkCallOptions = {}): Promise<void> {
    await this.probe(opts)
    this.#sha(sha256)
    const dir = join(this.#root, BLOBS)
    await rm(join(dir, `${sha256}.meta.json`), { force: true })
    await rm(join(dir, sha256), { force: true })
    await fsyncDir(dir).catch(() => undefined)
  }

  async putIndex(entry: ManifestEntry, opts: SinkCallOptions = {}): Promise<void> {
    await this.probe(opts)
    try {
      const target = await prepareTarget(this.#root, indexKey(entry))
      await writeFileAtomic(target, indexText(entry))
    } catch (err) {
      throw this.#wrap(err, `writing the index of ${entry.path}`)
    }
  }

  async *listIndex(opts: ListIndexOptions = {}): AsyncIterable<ManifestEntry> {
    await this.probe(opts)
    const root = join(this.#root, INDEX)
    let names: string[]
    try {
      names = (await readdir(root, { recursive: true })).map(String)
    } catch {
      return
    }
    for (const rel of names.sort()) {
      opts.signal?.throwIfAborted()
      if (!rel.endsWith('.json')) continue
      const file = join(root, rel)
      const st = await lstat(file)
      if (!st.isFile()) continue
      let text: string
      try {
        text = await this.#readBounded(file, MAX_INDEX_BYTES)
      } catch (err) {
        if (err instanceof SinkError) opts.onRefused?.(err)
        continue
      }
      const e = parseIndex(text)
      if (e != null) yield e
    }
  }

  /**
   * A small file of the sink read whole, refused (SinkError 'corrupt', naming
   * the file) when it is over `max` bytes: checked on the open descriptor, so
   * a file that grows after the check is still read only up to the bound.
   */
  async #readBounded(file: string, max: number): Promise<string> {
    const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW)
    try {
      const size = (await fh.stat()).size
      if (size > max) throw new SinkError(this.name, 'corrupt', `${file} is ${size} bytes, over the ${max} a sink's metadata may have; not read`)
      const buf = Buffer.alloc(max + 1)
      let got = 0
      for (;;) {
        const { bytesRead } = await fh.read(buf, got, buf.length - got, got)
        if (bytesRead === 0) break
        got += bytesRead
        if (got > max) throw new SinkError(this.name, 'corrupt', `${file} grew over the ${max} bytes a sink's metadata may have; not read`)
      }
      return buf.subarray(0, got).toString('utf8')
    } finally {
      await fh.close()
    }
  }

  #sha(sha256: string): void {
    if (!SHA256_HEX.test(sha256)) throw new SinkError(this.name, 'other', `not a SHA-256: ${JSON.stringify(sha256).slice(0, 80)}`)
  }

  #wrap(err: unknown, what: string): Error {
    if (err instanceof SinkError) return err
    // the local side failed (the file did not hash to its SHA-256): not the sink's fault
    if (err instanceof MeshsyncError) return err
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOSPC' || code === 'EDQUOT') return new SinkError(this.name, 'full', `${this.#root} is full (${what})`, { cause: err })
    if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return new SinkError(this.name, 'other', `${this.#root} is not writable (${code}, ${what})`, { cause: err })
    return new SinkError(this.name, 'other', `${what} in ${this.#root}: ${(err as Error).message}`, { cause: err })
  }
}

