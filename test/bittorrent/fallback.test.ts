import { copyFile, mkdtemp, open, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { FileJson } from '../../src/node/read-models.js'
import type { MeshsyncNode } from '../../src/node.js'
import type { QuarantineRecord } from '../../src/quarantine/quarantine.js'
import type { Progress } from '../../src/transfer/download.js'
import type { MeshsyncEvent } from '../../src/state/event-log.js'
import { api, startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { BT_TEST, knownWithTorrent, MiB, randomFile, sha256File, stagingOf } from './support.js'

const SIZE = 64 * MiB

const completed = async (n: MeshsyncNode, sha: string): Promise<MeshsyncEvent | undefined> =>
  (await api<MeshsyncEvent[]>(n, '/events?type=sync_completed')).find((e) => e.sha256 === sha)

describe('BitTorrent fallback between real nodes', () => {
  let nodes: MeshsyncNode[] = []
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
  })
  afterAll(async () => {
    await stopAll(nodes)
  })

  it('moves a 64 MiB file over BitTorrent when the receiver’s libp2p path fails, and lands it like any other', async () => {
    const src = await startNode({ name: 'bt-src', settings: BT_TEST })
    nodes.push(src)
    const dst = await startNode({ name: 'bt-dst', bootstrap: [src.addresses[0]!], settings: { ...BT_TEST, 'debug.libp2pFetch': false } })
    nodes.push(dst)
    const sha = await randomFile(join(src.layout.dataDir, 'big.bin'), SIZE)
    const infoHash = await knownWithTorrent(dst, sha, [src])

    // the contract: /files carries the infoHash, /status the BitTorrent port
    const files = await api<FileJson[]>(src, '/files')
    expect(files.find((f) => f.sha256 === sha)?.infoHash).toBe(infoHash)
    expect((await api<{ bittorrentPort: number }>(src, '/status')).bittorrentPort).toBe(src.bittorrent!.port)
    expect(src.bittorrent!.port).toBeGreaterThan(0)

    const landed = await dst.fetch(sha, { signal: AbortSignal.timeout(120_000) })
    expect(landed.path).toBe('big.bin')
    expect(await sha256File(join(dst.layout.dataDir, 'big.bin'))).toBe(sha)
    const done = await completed(dst, sha)
    expect(done?.data).toMatchObject({ via: 'bittorrent', fallbackFrom: 'libp2p', checksumVerified: true })
    expect(done?.data?.sources).toEqual([src.peerId])
    // libp2p really was tried first and stalled
    const stalled = (await api<MeshsyncEvent[]>(dst, '/events?type=sync_stalled')).filter((e) => e.sha256 === sha)
    expect(stalled.some((e) => e.data?.via === 'libp2p')).toBe(true)
    // staging is empty, the receiver's own entry carries the same infoHash (computed by itself), and it seeds it now
    expect(await readdir(dst.layout.staging)).toEqual([])
    expect(dst.manifest.get('big.bin')?.infoHash).toBe(infoHash)
    await waitFor('the receiver seeds what it fetched', () => dst.bittorrent!.seeder.seeding().get(sha) === infoHash)
    // nothing written anywhere but staging and the data dir (no /tmp/webtorrent, no metadata names)
    expect((await readdir(dst.layout.dataDir)).sort()).toEqual(['.meshsync', 'big.bin'])
  })

  it('quarantines what a lying seeder sent (caught by the SHA-256 at landing) and fetches the file from an honest holder', async () => {
    // the liar's torrents are built from its files with a byte flipped per piece: every piece passes SHA-1, the file is wrong
    const liar = await startNode({ name: 'bt-liar', settings: { ...BT_TEST, 'debug.corruptTorrents': true } })
    nodes.push(liar)
    const dst = await startNode({ name: 'bt-dst2', bootstrap: [liar.addresses[0]!], settings: { ...BT_TEST, 'debug.libp2pFetch': false } })
    nodes.push(dst)
    const sha = await randomFile(join(liar.layout.dataDir, 'big.bin'), SIZE)
    const badHash = await knownWithTorrent(dst, sha, [liar])

    const fetching = dst.fetch(sha, { signal: AbortSignal.timeout(180_000) })
    fetching.catch(() => {})
    const q = await waitFor('the liar’s data quarantined', async () => (await api<QuarantineRecord[]>(dst, '/quarantine')).find((r) => r.expectedSha256 === sha), 90_000)
    expect(q.reason).toMatch(/sha256 mismatch/)
    expect(q.sourcePeer).toBe(liar.peerId)
    expect(q.sha256).not.toBe(sha)
    expect(dst.manifest.has(sha)).toBe(false)

    // an honest holder of the same file appears; its torrent (another infoHash) is used, the liar's is not again
    const honestDir = await mkdtemp(join(tmpdir(), 'meshsync-bt-honest-'))
    await copyFile(join(liar.layout.dataDir, 'big.bin'), join(honestDir, 'big.bin'))
    const honest = await startNode({ name: 'bt-honest', dataDir: honestDir, bootstrap: [liar.addresses[0]!], settings: BT_TEST })
    nodes.push(honest)
    const goodHash = await knownWithTorrent(dst, sha, [honest])
    expect(goodHash).not.toBe(badHash)

    const landed = await fetching
    expect(await sha256File(join(dst.layout.dataDir, landed.path))).toBe(sha)
    const done = await completed(dst, sha)
    expect(done?.data).toMatchObject({ via: 'bittorrent', checksumVerified: true })
    expect(done?.data?.sources).toEqual([honest.peerId])
    expect(dst.manifest.bySha(sha)[0]?.infoHash).toBe(goodHash)
    const failed = (await api<MeshsyncEvent[]>(dst, '/events?type=sync_failed')).filter((e) => e.sha256 === sha)
    expect(failed.some((e) => e.data?.code === 'ERR_CHECKSUM')).toBe(true)

    // the liar is held off over BitTorrent for the next file too, not only for this one; the honest holder is trusted
    const fallback = dst.bittorrent!.fallback
    expect(fallback.breakers.state(liar.peerId)).toBe('open')
    expect(fallback.breakers.state(honest.peerId)).toBe('closed')
    const next = await randomFile(join(liar.layout.dataDir, 'next.bin'), SIZE)
    await copyFile(join(liar.layout.dataDir, 'next.bin'), join(honestDir, 'next.bin'))
    const honestNext = await knownWithTorrent(dst, next, [liar, honest])
    const entry = dst.view.entryFor(next)!
    const liarNext = [...dst.view.get(liar.peerId)!.entries.values()].find((e) => e.sha256 === next)!.infoHash
    expect(liarNext).not.toBe(honestNext)
    // one vote each: without the breaker the pick would be whichever infoHash sorts first
    expect(fallback.chooseInfoHash(entry, [liar.peerId, honest.peerId])).toBe(
      [...dst.view.get(honest.peerId)!.entries.values()].find((e) => e.sha256 === next)!.infoHash,
    )
  })

  it('keeps libp2p first from preferredSize on, leaves smaller files without a torrent, and gives what libp2p landed its own infoHash', async () => {
    const settings = { ...BT_TEST, 'bittorrent.preferredSize': 2 * MiB }
    const src = await startNode({ name: 'bt-src5', settings })
    nodes.push(src)
    const dst = await startNode({ name: 'bt-dst5', bootstrap: [src.addresses[0]!], settings })
    nodes.push(dst)
    const small = await randomFile(join(src.layout.dataDir, 'small.bin'), 2 * MiB - 1)
    const large = await randomFile(join(src.layout.dataDir, 'large.bin'), 3 * MiB)
    const infoHash = await knownWithTorrent(dst, large, [src])
    await waitFor('the small file known', () => dst.view.holders(small).includes(src.peerId))
    expect(dst.view.entryFor(small)?.infoHash).toBeUndefined()
    expect((await api<FileJson[]>(dst, '/files')).find((f) => f.sha256 === small)?.infoHash).toBeUndefined()

    await dst.fetch(large, { signal: AbortSignal.timeout(60_000) })
    await dst.fetch(small, { signal: AbortSignal.timeout(60_000) })
    expect((await completed(dst, large))?.data).toMatchObject({ via: 'libp2p' })
    expect((await completed(dst, small))?.data).toMatchObject({ via: 'libp2p' })
    // built from the landed bytes by the receiver itself: the same infoHash every holder has
    expect(dst.manifest.get('large.bin')?.infoHash).toBe(infoHash)
    expect(dst.manifest.get('small.bin')?.infoHash).toBeUndefined()
  })

  it('resumes from what an earlier attempt left in the staging file', async () => {
    const src = await startNode({ name: 'bt-src4', settings: BT_TEST })
    nodes.push(src)
    const dst = await startNode({ name: 'bt-dst4', bootstrap: [src.addresses[0]!], settings: { ...BT_TEST, 'debug.libp2pFetch': false } })
    nodes.push(dst)
    const sha = await randomFile(join(src.layout.dataDir, 'big.bin'), SIZE)
    await knownWithTorrent(dst, sha, [src])
    // the first 40 MiB already staged (as a stalled libp2p attempt leaves them), the rest absent
    const staged = join(dst.layout.staging, `${sha}.part`)
    const fh = await open(staged, 'w')
    const from = await open(join(src.layout.dataDir, 'big.bin'), 'r')
    const head = Buffer.alloc(40 * MiB)
    await from.read(head, 0, head.length, 0)
    await fh.write(head, 0, head.length, 0)
    await fh.truncate(SIZE)
    await fh.close()
    await from.close()

    await dst.fetch(sha, { signal: AbortSignal.timeout(120_000) })
    expect(await sha256File(join(dst.layout.dataDir, 'big.bin'))).toBe(sha)
    const done = await completed(dst, sha)
    expect(done?.data).toMatchObject({ via: 'bittorrent', checksumVerified: true })
    // only the missing 24 MiB (plus protocol bytes) came over the wire
    expect(done?.data?.bytesReceived as number).toBeGreaterThan(24 * MiB)
    expect(done?.data?.bytesReceived as number).toBeLessThan(30 * MiB)
  })

  it('takes pieces from two holders at once', async () => {
    // each holder uploads at most 12 MiB/s (bandwidth.upload caps BitTorrent too): neither can serve it all before the other joins
    const capped = { ...BT_TEST, 'bandwidth.upload': 12 * MiB }
    const a = await startNode({ name: 'bt-a', settings: capped })
    nodes.push(a)
    const boot = [a.addresses[0]!]
    const b = await startNode({ name: 'bt-b', bootstrap: boot, settings: capped })
    nodes.push(b)
    // the receiver has BitTorrent first for files this large, and no libp2p at all
    const dst = await startNode({
      name: 'bt-dst3',
      bootstrap: boot,
      settings: { ...BT_TEST, 'debug.libp2pFetch': false, 'bittorrent.requiredSize': 60 * MiB, 'bittorrent.preferForRequired': true },
    })
    nodes.push(dst)
    const sha = await randomFile(join(a.layout.dataDir, 'big.bin'), SIZE)
    await copyFile(join(a.layout.dataDir, 'big.bin'), join(b.layout.dataDir, 'big.bin'))
    const infoHash = await knownWithTorrent(dst, sha, [a, b])
    await waitFor('both seed it', () => a.bittorrent!.seeder.seeding().get(sha) === infoHash && b.bittorrent!.seeder.seeding().get(sha) === infoHash)

    // GET /transfer shows the BitTorrent download's progress while it runs
    const seen: Progress[] = []
    let fetching = true
    const sampler = (async () => {
      while (fetching) {
        const t = await api<{ progress?: Progress }>(dst, `/transfer?sha256=${sha}`).catch(() => undefined)
        if (t?.progress != null) seen.push(t.progress)
        await new Promise((r) => setTimeout(r, 100))
      }
    })()
    await dst.fetch(sha, { signal: AbortSignal.timeout(120_000) }).finally(() => {
      fetching = false
    })
    await sampler
    const mid = seen.filter((p) => p.via === 'bittorrent' && p.bytes > 0 && p.bytes < SIZE)
    expect(mid.length).toBeGreaterThan(0)
    expect(mid.every((p) => p.total === SIZE && p.chunks > 0 && p.chunksDone <= p.chunks)).toBe(true)
    expect(mid.flatMap((p) => p.sources).every((s) => s === a.peerId || s === b.peerId)).toBe(true)
    expect(mid.some((p) => p.rate > 0)).toBe(true)
    expect(await sha256File(join(dst.layout.dataDir, 'big.bin'))).toBe(sha)
    const done = await completed(dst, sha)
    // BitTorrent went first: no libp2p attempt, nothing stalled
    expect(done?.data).toMatchObject({ via: 'bittorrent', checksumVerified: true })
    expect(done?.data?.fallbackFrom).toBeUndefined()
    expect([...((done?.data?.sources as string[] | undefined) ?? [])].sort()).toEqual([a.peerId, b.peerId].sort())
    // both uploaded a real share of the file
    const upA = a.bittorrent!.seeder.torrent(sha)!.uploaded
    const upB = b.bittorrent!.seeder.torrent(sha)!.uploaded
    expect(upA).toBeGreaterThan(SIZE / 4)
    expect(upB).toBeGreaterThan(SIZE / 4)
    expect(upA + upB).toBeGreaterThanOrEqual(SIZE)
    expect(await readdir(stagingOf(dst.layout.dataDir))).toEqual([])
  })

  it('a BitTorrent pull cancelled midway leaves nothing behind: no torrent, no staging file, no row; waiters get CancelledError', async () => {
    // the holder's upload capped so the transfer is still running when it is cancelled
    const src = await startNode({ name: 'bt-src6', settings: { ...BT_TEST, 'bandwidth.upload': 8 * MiB } })
    nodes.push(src)
    const dst = await startNode({ name: 'bt-dst6', bootstrap: [src.addresses[0]!], settings: { ...BT_TEST, 'debug.libp2pFetch': false } })
    nodes.push(dst)
    const sha = await randomFile(join(src.layout.dataDir, 'big.bin'), SIZE)
    const infoHash = await knownWithTorrent(dst, sha, [src])
    const waited = dst.fetch(sha, { signal: AbortSignal.timeout(120_000) }).then(
      () => undefined,
      (err: unknown) => err,
    )
    await waitFor('BitTorrent bytes arriving', () => {
      const p = dst.transfers.progress(sha)
      return p?.via === 'bittorrent' && p.bytes > 4 * MiB
    }, 60_000)
    expect(dst.bittorrent!.client.torrents.some((t) => t.infoHash === infoHash)).toBe(true)
    expect(dst.transfers.cancel(sha, 'test cancels it')).toBe(true)

    const err = (await waited) as Error
    expect(err?.name).toBe('CancelledError')
    const cancelled = await waitFor('sync_cancelled', async () => (await api<MeshsyncEvent[]>(dst, '/events?type=sync_cancelled')).find((e) => e.sha256 === sha))
    expect(cancelled.data).toMatchObject({ reason: 'test cancels it' })
    expect(cancelled.data?.bytesVerified as number).toBeGreaterThan(4 * MiB)
    expect(cancelled.data?.bytesVerified as number).toBeLessThan(SIZE)
    expect(dst.bittorrent!.client.torrents.some((t) => t.infoHash === infoHash)).toBe(false)
    expect(dst.transfers.list().find((t) => t.sha256 === sha)).toBeUndefined()
    await waitFor('staging is empty', async () => (await readdir(dst.layout.staging)).length === 0, 5000)
    expect(dst.manifest.bySha(sha)).toEqual([])
    expect((await readdir(dst.layout.dataDir)).sort()).toEqual(['.meshsync'])
    expect((await api<MeshsyncEvent[]>(dst, '/events?type=sync_completed')).filter((e) => e.sha256 === sha)).toEqual([])
  })
})
