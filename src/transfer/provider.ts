import { createHash } from 'node:crypto'
import { constants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { Bitfield, chunkCount, chunkLength, type BlobHandle, type BlobProvider, type ServeContext } from '../../protocols/blob/index.js'
import { PRIORITY_CODES } from '../../protocols/blob/constants.js'
import type { Metrics } from '../api/metrics.js'
import type { LocalFile, LocalManifest } from '../catalog/local-manifest.js'
import { PRIORITIES } from '../config/schema.js'
import { BusyError, InternalError } from '../util/errors.js'
import type { Logger } from '../util/log.js'
import type { Download } from './download.js'
import type { RateLimiter } from './rate-limiter.js'

export interface ProviderInit {
  dataDir: string
  snapshotDir: string
  manifest: LocalManifest
  /** Downloads in progress, whose verified chunks are served too. */
  download: (sha256: string) => Download | undefined
  upload: RateLimiter
  perPeer: (peer: string) => RateLimiter
  maxServing: number
  verifyOnSend: boolean
  /** Test hook (debug.corruptServeRate): flip a byte in this fraction of served chunks. */
  corruptRate: number
  metrics: Metrics
  log: Logger
  /** A served file no longer matches its catalog entry (changed or rotted): rescan / quarantine it. */
  onMismatch: (file: LocalFile, reason: string) => void
}

/** How long a request waits for a serving slot before it is told BUSY. */
const ADMISSION_WAIT_MS = 2000

interface Waiter {
  rank: number
  seq: number
  resolve: () => void
}

/**
 * Serves files to other nodes: complete ones from the data dir (or the
 * snapshot of a live SQLite db), partial ones from the staging file of a
 * download in progress. At most `maxServing` streams at once; waiting
 * requests are admitted by priority, then rarity (fewest known copies), so an
 * evacuating node sends its rarest files first.
 */
export class Provider implements BlobProvider {
  readonly #init: ProviderInit
  #serving = 0
  readonly #queue: Waiter[] = []
  #seq = 0

  constructor(init: ProviderInit) {
    this.#init = init
  }

  get serving(): number {
    return this.#serving
  }

  async open(sha256: string, ctx: ServeContext): Promise<BlobHandle | undefined> {
    const local = this.#init.manifest.bySha(sha256)[0]
    const partial = local == null ? this.#init.download(sha256) : undefined
    if (local == null && (partial?.meta == null || partial.have == null)) return undefined
    await this.#admit(ctx)
    try {
      return local != null ? await this.#complete(local, ctx) : await this.#partial(partial!, ctx)
    } catch (err) {
      this.#leave()
      throw err
    }
  }

  async #admit(ctx: ServeContext): Promise<void> {
    if (this.#serving < this.#init.maxServing && this.#queue.length === 0) {
      this.#serving++
      return
    }
    // higher priority first, then the rarer file
    const rank = PRIORITY_CODES.indexOf(ctx.priority) * 1000 - Math.min(999, ctx.copies)
    await new Promise<void>((resolve, reject) => {
      const w: Waiter = { rank, seq: this.#seq++, resolve }
      this.#queue.push(w)
      this.#queue.sort((a, b) => b.rank - a.rank || a.seq - b.seq)
      const timer = setTimeout(() => {
        const i = this.#queue.indexOf(w)
        if (i >= 0) this.#queue.splice(i, 1)
        reject(new BusyError(`serving ${this.#serving} transfers`))
      }, ADMISSION_WAIT_MS)
      w.resolve = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }

  #leave(): void {
    const next = this.#queue.shift()
    if (next != null) next.resolve()
    else this.#serving--
  }

  #pace(ctx: ServeContext): (bytes: number, signal: AbortSignal) => Promise<void> {
    const weight = PRIORITIES[ctx.priority]
    const flow = `${ctx.peer}:${this.#seq++}`
    return async (bytes, signal) => {
      await this.#init.upload.take(bytes, flow, weight, signal)
      await this.#init.perPeer(ctx.peer).take(bytes, flow, weight, signal)
    }
  }

  async #complete(f: LocalFile, ctx: ServeContext): Promise<BlobHandle> {
    const path = f.snapshot != null ? join(this.#init.snapshotDir, f.snapshot) : join(this.#init.dataDir, ...f.path.split('/'))
    const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
    const st = await fh.stat()
    if (!st.isFile() || st.size !== f.size) {
      await fh.close()
      this.#init.onMismatch(f, `size on disk ${st.size}, catalog ${f.size}`)
      throw new InternalError(`${f.path} changed on disk since it was cataloged`)
    }
    const n = chunkCount(f.size, f.chunkSize)
    return this.#handle(fh, ctx, {
      meta: { size: f.size, sha256: f.sha256, chunkSize: f.chunkSize, chunkHashes: f.chunkHashes, kind: f.kind, facts: f.facts != null ? JSON.stringify(f.facts).slice(0, 16_000) : '', complete: true },
      has: () => true,
      have: () => Bitfield.all(n).bytes,
      chunkHashes: f.chunkHashes,
      verify: this.#init.verifyOnSend,
      onBad: (i) => this.#init.onMismatch(f, `chunk ${i} no longer matches its hash`),
    })
  }

  async #partial(d: Download, ctx: ServeContext): Promise<BlobHandle> {
    const meta = d.meta!
    const fh = await open(d.stagingPath, constants.O_RDONLY | constants.O_NOFOLLOW)
    return this.#handle(fh, ctx, {
      meta: { ...meta, complete: false },
      has: (i) => d.hasChunk(i),
      have: () => d.have!.bytes,
      chunkHashes: meta.chunkHashes,
      verify: false,
      onBad: () => {},
    })
  }

  #handle(
    fh: FileHandle,
    ctx: ServeContext,
    h: { meta: BlobHandle extends { meta(): infer M } ? M : never; has: (i: number) => boolean; have: () => Uint8Array; chunkHashes: Uint8Array; verify: boolean; onBad: (i: number) => void },
  ): BlobHandle {
    const pace = this.#pace(ctx)
    let closed = false
    return {
      meta: () => h.meta,
      has: h.has,
      have: h.have,
      read: async (index, signal) => {
        signal.throwIfAborted()
        const len = chunkLength(h.meta.size, h.meta.chunkSize, index)
        // a fresh buffer per chunk: the stream keeps a reference until it is encrypted and sent
        const buf = Buffer.allocUnsafe(len)
        let off = 0
        while (off < len) {
          const { bytesRead } = await fh.read(buf, off, len - off, index * h.meta.chunkSize + off)
          if (bytesRead === 0) throw new InternalError(`short read of chunk ${index}`)
          off += bytesRead
        }
        if (h.verify && !createHash('sha256').update(buf).digest().equals(Buffer.from(h.chunkHashes.subarray(index * 32, index * 32 + 32)))) {
          h.onBad(index)
          throw new InternalError(`chunk ${index} of ${h.meta.sha256.slice(0, 12)} failed re-verification here; not serving it`)
        }
        if (this.#init.corruptRate > 0 && Math.random() < this.#init.corruptRate && len > 0) {
          buf[Math.floor(Math.random() * len)]! ^= 0xff
        }
        return buf
      },
      pace,
      close: (bytesSent) => {
        if (closed) return
        closed = true
        this.#init.metrics.transferBytes.inc({ direction: 'out', transport: 'libp2p' }, bytesSent)
        void fh.close().catch(() => {})
        this.#leave()
      },
    }
  }
}
