import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ChunkStore, ChunkStoreOptions } from 'webtorrent'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { digestFile } from '../../src/catalog/hasher.js'
import { seedStore, stagingStore } from '../../src/bittorrent/store.js'
import { StreamDigest } from '../../src/bittorrent/stream-digest.js'
import { createTorrentMeta } from '../../src/bittorrent/torrent-meta.js'
import { MiB, sha256File } from './support.js'

const opts = (length: number): ChunkStoreOptions => ({ length, files: [], name: 'ignored', path: '/ignored', torrent: {} as never, addUID: false, rootDir: null, max: 0 })
const put = (s: ChunkStore, i: number, b: Uint8Array) => new Promise<void>((res, rej) => s.put(i, b, (e) => (e ? rej(e) : res())))
const get = (s: ChunkStore, i: number, r: { offset?: number; length?: number } | null) =>
  new Promise<Uint8Array>((res, rej) => s.get(i, r, (e, b) => (e ? rej(e) : res(b!))))
const close = (s: ChunkStore) => new Promise<void>((res, rej) => s.close((e) => (e ? rej(e) : res())))

describe('BitTorrent stores and the streaming digest', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bt-store-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it.each([1, MiB, 3 * MiB + 5, 5 * MiB - 1])('computes what the catalog hasher computes, fed in odd pieces (%i bytes)', async (size) => {
    const data = randomBytes(size)
    const path = join(dir, `d-${size}`)
    await writeFile(path, data)
    const d = new StreamDigest(size)
    for (let at = 0; at < size; ) {
      const n = Math.min(size - at, 1 + Math.floor(Math.random() * 700_000))
      d.update(data.subarray(at, at + n))
      at += n
    }
    const ref = await digestFile(path)
    expect(await d.result()).toEqual({ sha256: ref.sha256, chunkSize: ref.chunkSize, chunkHashes: ref.chunkHashes, chunkRoot: ref.chunkRoot })
  })

  it('writes pieces in any order into the file it was given, and digests them in file order', async () => {
    const pl = MiB
    const size = 4 * MiB + 1234
    const data = randomBytes(size)
    const path = join(dir, 'staged.part')
    const h = stagingStore({ path, size })
    const s = new h.Store(pl, opts(size))
    // not written yet: an error (webtorrent then counts the piece missing)
    await expect(get(s, 0, null)).rejects.toThrow(/not written/)
    for (const i of [3, 1, 4, 0, 2]) await put(s, i, data.subarray(i * pl, Math.min(size, (i + 1) * pl)))
    await expect(put(s, 2, Buffer.alloc(3))).rejects.toThrow(/does not fit/)
    expect(Buffer.from(await get(s, 4, { offset: 10, length: 20 })).equals(data.subarray(4 * pl + 10, 4 * pl + 30))).toBe(true)
    await close(s)
    expect((await readFile(path)).equals(data)).toBe(true)
    expect((await h.digest())?.sha256).toBe(await sha256File(path))
    // metadata of another length is refused before anything is written
    const other = new (stagingStore({ path: join(dir, 'x.part'), size }).Store)(pl, opts(size + 1))
    await expect(put(other, 0, data.subarray(0, pl))).rejects.toThrow(/catalog says/)
  })

  it('digests pieces written concurrently in reverse order, beyond what it keeps in memory', async () => {
    const size = 40 * MiB + 3
    const data = randomBytes(size)
    const path = join(dir, 'reverse.part')
    const h = stagingStore({ path, size })
    const s = new h.Store(MiB, opts(size))
    const order = Array.from({ length: 41 }, (_, i) => 40 - i)
    await Promise.all(order.map((i) => put(s, i, data.subarray(i * MiB, Math.min(size, (i + 1) * MiB)))))
    await close(s)
    expect((await h.digest())?.sha256).toBe(await sha256File(path))
    expect((await digestFile(path)).chunkHashes.equals((await h.digest())!.chunkHashes)).toBe(true)
  })

  it('gives no streaming digest for a staging file that held data already (a resume reads it again)', async () => {
    const path = join(dir, 'resumed.part')
    await writeFile(path, randomBytes(2 * MiB))
    const h = stagingStore({ path, size: 2 * MiB })
    const s = new h.Store(MiB, opts(2 * MiB))
    expect((await get(s, 1, null)).byteLength).toBe(MiB)
    await put(s, 0, randomBytes(MiB))
    await put(s, 1, randomBytes(MiB))
    await close(s)
    expect(await h.digest()).toBeUndefined()
  })

  it('seeds read-only and stops serving a piece that no longer matches its hash', async () => {
    const size = 3 * MiB
    const path = join(dir, 'seed.bin')
    await writeFile(path, randomBytes(size))
    const meta = await createTorrentMeta(path, { sha256: await sha256File(path) })
    const bad: number[] = []
    const s = new (seedStore({ path, size, pieces: meta.pieces, onMismatch: (i) => bad.push(i) }))(MiB, opts(size))
    expect((await get(s, 0, { offset: 0, length: 16384 })).byteLength).toBe(16384)
    await expect(put(s, 0, Buffer.alloc(MiB))).rejects.toThrow(/read-only/)
    // rot on disk after the torrent was made
    const fh = await (await import('node:fs/promises')).open(path, 'r+')
    await fh.write(Buffer.from([0xff]), 0, 1, 2 * MiB + 7)
    await fh.close()
    await expect(get(s, 2, { offset: 0, length: 16384 })).rejects.toThrow(/no longer matches/)
    expect(bad).toEqual([2])
    // a piece checked before keeps being served
    expect((await get(s, 0, { offset: 16384, length: 16384 })).byteLength).toBe(16384)
    await close(s)
  })
})
