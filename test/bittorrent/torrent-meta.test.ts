import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import createTorrent from 'create-torrent'
import parseTorrent from 'parse-torrent'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { corruptEveryPiece, TorrentCache } from '../../src/bittorrent/torrent-cache.js'
import { createTorrentMeta, magnetURI, metaFromPieces, pieceLengthFor, readTorrentFile, torrentFile } from '../../src/bittorrent/torrent-meta.js'
import { digestFile } from '../../src/catalog/hasher.js'
import { MiB, sha256File } from './support.js'

/**
 * The torrent of a file is deterministic: every holder (and every other
 * BitTorrent tool given the same name, piece length and private flag) gets
 * the same infoHash from the same bytes.
 */
describe('deterministic torrent metadata', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bt-meta-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('derives the piece length from the size alone', () => {
    expect(pieceLengthFor(0)).toBe(MiB)
    expect(pieceLengthFor(50_000_000)).toBe(MiB)
    expect(pieceLengthFor(2048 * MiB)).toBe(MiB)
    expect(pieceLengthFor(2048 * MiB + 1)).toBe(2 * MiB)
    expect(pieceLengthFor(10 * 1024 ** 4)).toBe(16 * MiB)
  })

  it.each([1, MiB - 1, MiB, MiB + 1, 3 * MiB + 12345])('gives create-torrent’s infoHash for a %i-byte file', async (size) => {
    const path = join(dir, `f-${size}.bin`)
    await writeFile(path, randomBytes(size))
    const sha = await sha256File(path)
    const meta = await createTorrentMeta(path, { sha256: sha })
    const theirs = await new Promise<Uint8Array>((resolve, reject) =>
      createTorrent(path, { name: sha, pieceLength: pieceLengthFor(size), private: true, announce: [] }, (err, t) => (err ? reject(err) : resolve(t))),
    )
    const parsed = await parseTorrent(theirs)
    expect(meta.infoHash).toBe(parsed.infoHash)
    expect(meta.length).toBe(size)
    // and our .torrent reads back to the same, with trackers outside the info dict
    const ours = await parseTorrent(torrentFile(meta, ['http://127.0.0.1:1/announce']))
    expect(ours.infoHash).toBe(meta.infoHash)
    expect(ours.private).toBe(true)
    expect(ours.announce).toEqual(['http://127.0.0.1:1/announce'])
    expect(ours.name).toBe(sha)
  })

  it.skipIf(spawnSync('mktorrent', ['-h'], { stdio: 'ignore' }).error != null)('gives mktorrent’s infoHash', async () => {
    const path = join(dir, 'mk.bin')
    await writeFile(path, randomBytes(5 * MiB + 7))
    const sha = await sha256File(path)
    const meta = await createTorrentMeta(path, { sha256: sha })
    const out = join(dir, 'mk.torrent')
    const r = spawnSync('mktorrent', ['-p', '-d', '-n', sha, '-l', '20', '-a', 'http://127.0.0.1:1/announce', '-o', out, path])
    expect(r.status).toBe(0)
    expect((await parseTorrent(await readFile(out))).infoHash).toBe(meta.infoHash)
  })

  it('refuses to build a torrent of bytes that are not what its name says, and reads back only its own torrents', async () => {
    const path = join(dir, 'x.bin')
    await writeFile(path, randomBytes(2 * MiB))
    const sha = await sha256File(path)
    await expect(createTorrentMeta(path, { sha256: 'ab'.repeat(32) })).rejects.toThrow(/hashes to/)
    const meta = await createTorrentMeta(path, { sha256: sha })
    await expect(readTorrentFile(torrentFile(meta), { sha256: sha, size: 2 * MiB })).resolves.toMatchObject({ infoHash: meta.infoHash })
    await expect(readTorrentFile(torrentFile(meta), { sha256: sha, size: 2 * MiB + 1 })).rejects.toThrow(/not meshsync's torrent/)
    await expect(readTorrentFile(Buffer.from('not a torrent'), { sha256: sha, size: 2 * MiB })).rejects.toThrow(/does not parse/)
    // a torrent of the same name and size made another way (other piece length) is not ours
    const other = await new Promise<Uint8Array>((resolve, reject) =>
      createTorrent(path, { name: sha, pieceLength: 256 * 1024, private: true, announce: [] }, (err, t) => (err ? reject(err) : resolve(t))),
    )
    await expect(readTorrentFile(other, { sha256: sha, size: 2 * MiB })).rejects.toThrow(/not meshsync's torrent/)
    expect(magnetURI(meta.infoHash, { name: sha, trackers: ['http://t/a'] })).toBe(`magnet:?xt=urn:btih:${meta.infoHash}&dn=${sha}&tr=http%3A%2F%2Ft%2Fa`)
    expect(() => magnetURI('../etc/passwd')).toThrow()
  })

  it('caches one torrent per content; the debug corruption changes the infoHash but not the name', async () => {
    const path = join(dir, 'c.bin')
    await writeFile(path, randomBytes(3 * MiB))
    const sha = await sha256File(path)
    const cache = new TorrentCache(join(dir, 'torrents'))
    await cache.open()
    const a = await cache.ensure(path, sha, 3 * MiB)
    await rm(path)
    // cached: the file is not read again
    const again = new TorrentCache(join(dir, 'torrents'))
    expect((await again.ensure(path, sha, 3 * MiB)).infoHash).toBe(a.infoHash)
    await writeFile(path, randomBytes(3 * MiB))
    const sha2 = await sha256File(path)
    const lying = await new TorrentCache(join(dir, 'lying'), corruptEveryPiece).ensure(path, sha2, 3 * MiB)
    const honest = await createTorrentMeta(path, { sha256: sha2 })
    expect(lying.name).toBe(honest.name)
    expect(lying.infoHash).not.toBe(honest.infoHash)
  })

  it.each([0, 1, MiB - 1, MiB, MiB + 1, 3 * MiB + 12345])('the catalog’s one read gives the same torrent for a %i-byte file', async (size) => {
    const path = join(dir, `one-${size}.bin`)
    await writeFile(path, randomBytes(size))
    const d = await digestFile(path, { sha1PieceLength: pieceLengthFor })
    expect(d.sha256).toBe(await sha256File(path))
    expect(d.sha1Pieces?.pieceLength).toBe(pieceLengthFor(size))
    const fromScan = metaFromPieces(d.sha256, size, d.sha1Pieces!.pieceLength, d.sha1Pieces!.hashes)
    expect(fromScan.infoHash).toBe((await createTorrentMeta(path, { sha256: d.sha256 })).infoHash)
    // and without the option, no pieces
    expect((await digestFile(path)).sha1Pieces).toBeUndefined()
  })

  it('splits pieces at any length, across read boundaries', async () => {
    const bytes = randomBytes(3 * MiB + 4500)
    const path = join(dir, 'odd.bin')
    await writeFile(path, bytes)
    for (const len of [1000, 3 * MiB, 5 * MiB]) {
      const d = await digestFile(path, { sha1PieceLength: () => len })
      const want: Buffer[] = []
      for (let at = 0; at < bytes.length; at += len) want.push(createHash('sha1').update(bytes.subarray(at, at + len)).digest())
      expect(d.sha1Pieces!.hashes.equals(Buffer.concat(want)), `piece length ${len}`).toBe(true)
    }
  })

  it('builds the torrent from the catalog’s pieces without reading the file; not under the debug corruption, nor from pieces of another length', async () => {
    const path = join(dir, 'p.bin')
    await writeFile(path, randomBytes(3 * MiB))
    const d = await digestFile(path, { sha1PieceLength: pieceLengthFor })
    const honest = await createTorrentMeta(path, { sha256: d.sha256 })
    await rm(path)
    const cache = new TorrentCache(join(dir, 'from-pieces'))
    await cache.open()
    // the file is gone: only the pieces can have built it
    expect((await cache.ensure(path, d.sha256, 3 * MiB, { pieces: d.sha1Pieces })).infoHash).toBe(honest.infoHash)
    // the debug transform must change the bytes first: it reads the file (gone here), never trusts the pieces
    await expect(new TorrentCache(join(dir, 'lying2'), corruptEveryPiece).ensure(path, d.sha256, 3 * MiB, { pieces: d.sha1Pieces })).rejects.toThrow(/ENOENT/)
    // pieces of another length are not the deterministic torrent's: ignored, the file is read (gone: an error)
    const other = { pieceLength: 512 * 1024, hashes: Buffer.alloc(6 * 20) }
    await expect(new TorrentCache(join(dir, 'other')).ensure(path, d.sha256, 3 * MiB, { pieces: other })).rejects.toThrow(/ENOENT/)
  })
})
