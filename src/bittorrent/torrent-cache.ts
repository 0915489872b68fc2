import { mkdir, readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Sha1Pieces } from '../catalog/hasher.js'
import { writeFileAtomic } from '../util/fs.js'
import { createTorrentMeta, metaFromPieces, pieceLengthFor, readTorrentFile, torrentFile, type CreateOptions, type TorrentMeta } from './torrent-meta.js'

/**
 * The torrents of the files this node holds, one `<sha256>.torrent` each in
 * the state dir, so a restart serves them without hashing anything again.
 * A torrent is built once per content (by the scanner or at landing), or
 * taken from a BitTorrent download whose file then passed its SHA-256.
 */
export class TorrentCache {
  readonly #dir: string
  readonly #transform: CreateOptions['transform']
  readonly #memo = new Map<string, TorrentMeta>()
  readonly #building = new Map<string, Promise<TorrentMeta>>()

  constructor(dir: string, transform?: CreateOptions['transform']) {
    this.#dir = dir
    this.#transform = transform
  }

  /** Creates the folder, and removes the torrents of content not in `keep` (files no longer held). */
  async open(keep?: (sha256: string) => boolean): Promise<void> {
    await mkdir(this.#dir, { recursive: true })
    if (keep == null) return
    for (const name of await readdir(this.#dir)) {
      const m = /^([0-9a-f]{64})\.torrent$/.exec(name)
      if (m == null || !keep(m[1]!)) await rm(join(this.#dir, name), { force: true })
    }
  }

  #file(sha256: string): string {
    return join(this.#dir, `${sha256}.torrent`)
  }

  /** The cached torrent of this content, if there is a sound one. */
  async get(sha256: string, size: number): Promise<TorrentMeta | undefined> {
    const m = this.#memo.get(sha256)
    if (m != null && m.length === size) return m
    let bytes: Buffer
    try {
      bytes = await readFile(this.#file(sha256))
    } catch {
      return undefined
    }
    try {
      const meta = await readTorrentFile(bytes, { sha256, size })
      this.#memo.set(sha256, meta)
      return meta
    } catch {
      // not ours or damaged: built again on demand
      await rm(this.#file(sha256), { force: true })
      return undefined
    }
  }

  /**
   * The torrent of the file at `path` (whose content is `sha256`), built if
   * not cached. `verified`: the file's SHA-256 was just checked (landing), so
   * the build does not hash it again. `pieces`: the SHA-1 pieces, taken from
   * the same read that checked the SHA-256, so the file is not read at all
   * (unless a debug transform must change the bytes first).
   */
  async ensure(
    path: string,
    sha256: string,
    size: number,
    opts: { signal?: AbortSignal; verified?: boolean; pieces?: Sha1Pieces } = {},
  ): Promise<TorrentMeta> {
    const cached = await this.get(sha256, size)
    if (cached != null) return cached
    let p = this.#building.get(sha256)
    if (p == null) {
      const { signal, verified, pieces } = opts
      p = (async () => {
        const meta =
          pieces != null && this.#transform == null && pieces.pieceLength === pieceLengthFor(size) && pieces.hashes.length === Math.ceil(size / pieces.pieceLength) * 20
            ? metaFromPieces(sha256, size, pieces.pieceLength, pieces.hashes)
            : await createTorrentMeta(path, { sha256, signal, transform: this.#transform, verified })
        if (meta.length !== size) throw new Error(`${path} has ${meta.length} bytes, the catalog says ${size}`)
        await this.put(meta)
        return meta
      })().finally(() => this.#building.delete(sha256))
      this.#building.set(sha256, p)
    }
    return p
  }

  async put(meta: TorrentMeta): Promise<void> {
    await writeFileAtomic(this.#file(meta.name), torrentFile(meta))
    this.#memo.set(meta.name, meta)
  }

  async delete(sha256: string): Promise<void> {
    this.#memo.delete(sha256)
    await rm(this.#file(sha256), { force: true })
  }
}

/** debug.corruptTorrents: one byte flipped at the start of every piece. */
export function corruptEveryPiece(buf: Buffer, offset: number, pieceLength: number): void {
  for (let p = Math.ceil(offset / pieceLength) * pieceLength; p < offset + buf.length; p += pieceLength) buf[p - offset]! ^= 0xff
}
