import { randomBytes } from 'node:crypto'
import { createServer, type Socket } from 'node:net'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeResponse, encodeRequest } from '../../protocols/blob/codec.js'
import { BLOB_PROTOCOL, type BlobClient, type BlobServer } from '../../protocols/blob/index.js'
import { connectLane, type LaneOffer, LaneUnavailableError } from '../../protocols/blob/lane/index.js'
import { StreamReader, StreamWriter } from '../../protocols/blob/stream-io.js'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { NO_REPLICATION, sha256Of } from './support.js'

const MiB = 1024 * 1024
const settings = { ...NO_REPLICATION, 'bittorrent.enabled': false }
const serverOf = (n: MeshsyncNode): BlobServer => n.mesh.services.blobServer as BlobServer
/** Chunks a holder sent over blob streams, not lanes. */
const streamChunks = (n: MeshsyncNode): number => serverOf(n).stats.chunks - serverOf(n).stats.laneChunks
const clientOf = (n: MeshsyncNode): BlobClient => n.mesh.services.blobClient as BlobClient

async function refusal(p: Promise<unknown>): Promise<LaneUnavailableError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(LaneUnavailableError)
  return err as LaneUnavailableError
}

describe('blob lane: what the holder refuses', () => {
  let other: MeshsyncNode
  let src: MeshsyncNode
  let dst: MeshsyncNode
  const files = [randomBytes(2 * MiB + 9), randomBytes(MiB + 1)]
  const shas = files.map(sha256Of)
  /** Streams kept open while their offers are used (a grant lives as long as its stream). */
  const open: { close(): Promise<void> }[] = []

  /** Asks the holder for a lane offer over a real blob stream from the receiver, as a receiver does. */
  async function offerFor(sha: string): Promise<LaneOffer> {
    const stream = await dst.mesh.dialProtocol(peerIdFromString(src.peerId), BLOB_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
    open.push({ close: () => stream.close().catch(() => {}) })
    const w = new StreamWriter(stream)
    const r = new StreamReader(stream)
    await w.message(encodeRequest({ sha256: sha, meta: true, lane: true }))
    const res = decodeResponse(await r.message(4 * MiB))
    if (res.type !== 'meta' || res.lane == null) throw new Error(`no lane offer: ${res.type}`)
    return res.lane
  }

  beforeAll(async () => {
    // a cluster host on another loopback address: the holder dials it, so 127.0.0.2 is a cluster IP, but not the receiver's
    other = await startNode({ name: 'lr-other', settings: { ...settings, listen: ['/ip4/127.0.0.2/tcp/0'] } })
    src = await startNode({ name: 'lr-src', bootstrap: [other.addresses[0]!], settings })
    dst = await startNode({ name: 'lr-dst', bootstrap: [src.addresses[0]!], settings })
    await waitFor('the source up in the receiver view', () => dst.view.get(src.peerId)?.state === 'up')
    await waitFor('the holder connected to the other host', () => src.mesh.getConnections(peerIdFromString(other.peerId)).length > 0)
    await writeFile(join(src.layout.dataDir, 'a.bin'), files[0]!)
    await writeFile(join(src.layout.dataDir, 'b.bin'), files[1]!)
    await waitFor('announced', () => shas.every((s) => dst.view.holders(s).includes(src.peerId)))
  })
  afterAll(async () => {
    await Promise.all(open.map((s) => s.close()))
    await stopAll([other, src, dst])
  })

  it('serves a redeemed token, then refuses it replayed (once only), and counts it', async () => {
    const offer = await offerFor(shas[0]!)
    const lane = await connectLane('127.0.0.1', offer, shas[0]!, AbortSignal.timeout(10_000))
    await lane.request([1], AbortSignal.timeout(10_000))
    const f = await lane.header(AbortSignal.timeout(10_000))
    expect(f).toEqual({ kind: 'chunk', index: 1, length: MiB })
    const buf = new Uint8Array(MiB)
    await lane.body(buf, MiB, AbortSignal.timeout(10_000))
    expect(Buffer.from(buf).equals(files[0]!.subarray(MiB, 2 * MiB))).toBe(true)
    lane.close()

    const before = src.lane!.stats.refused.badToken
    const err = await refusal(connectLane('127.0.0.1', offer, shas[0]!, AbortSignal.timeout(10_000)))
    expect(err.reason).toBe('token')
    expect(src.lane!.stats.refused.badToken).toBe(before + 1)
    expect(src.events.list({ types: ['lane_refused'] }).some((e) => e.data?.reason === 'badToken')).toBe(true)
  })

  it('refuses a token presented for another file, and burns it', async () => {
    const offer = await offerFor(shas[0]!)
    const err = await refusal(connectLane('127.0.0.1', offer, shas[1]!, AbortSignal.timeout(10_000)))
    expect(err.reason).toBe('token')
    expect(src.lane!.stats.refused.wrongFile).toBe(1)
    const again = await refusal(connectLane('127.0.0.1', offer, shas[0]!, AbortSignal.timeout(10_000)))
    expect(again.reason).toBe('token')
  })

  it('refuses a token presented from another cluster host than the peer it was issued to', async () => {
    const offer = await offerFor(shas[1]!)
    const err = await refusal(connectLane('127.0.0.1', offer, shas[1]!, AbortSignal.timeout(10_000), '127.0.0.2'))
    expect(err.reason).toBe('token')
    expect(src.lane!.stats.refused.wrongPeer).toBe(1)
    // not consumed: the peer it was issued to still can
    const lane = await connectLane('127.0.0.1', offer, shas[1]!, AbortSignal.timeout(10_000))
    lane.close()
  })

  it('cuts a connection from a host that is no cluster peer before any TLS handshake', async () => {
    const offer = await offerFor(shas[1]!)
    const before = src.lane!.stats.connections
    const err = await refusal(connectLane('127.0.0.1', offer, shas[1]!, AbortSignal.timeout(10_000), '127.0.0.3'))
    expect(['unreachable', 'refused']).toContain(err.reason)
    expect(src.lane!.stats.refused.notCluster).toBe(1)
    // it never reached the TLS layer
    expect(src.lane!.stats.connections).toBe(before)
  })

  it('a receiver refuses a lane whose certificate is not the offered one, and the transfer goes on over the stream', async () => {
    const lane = src.lane!
    const real = lane.offer.bind(lane)
    lane.offer = (...args) => {
      const o = real(...args)
      const fingerprint = new Uint8Array(o.fingerprint)
      fingerprint[0]! ^= 1
      return { ...o, fingerprint }
    }
    try {
      const data = randomBytes(3 * MiB + 17)
      const sha = sha256Of(data)
      await writeFile(join(src.layout.dataDir, 'fp.bin'), data)
      await waitFor('announced', () => dst.view.holders(sha).includes(src.peerId))
      const streamBefore = streamChunks(src)
      const landed = await dst.fetch(sha, { signal: AbortSignal.timeout(60_000) })
      expect((await readFile(join(dst.layout.dataDir, landed.path))).equals(data)).toBe(true)
      const fb = dst.events.list({ types: ['lane_fallback'] }).filter((e) => e.sha256 === sha)
      expect(fb.length).toBeGreaterThan(0)
      expect(fb.every((e) => e.data?.reason === 'fingerprint')).toBe(true)
      expect(streamChunks(src) - streamBefore).toBeGreaterThanOrEqual(4)
    } finally {
      lane.offer = real
    }
  })

  it('a lane port blocked from the start: the transfer falls back to the stream with only an event', async () => {
    // a port nothing listens on (bound, then closed)
    const port = await new Promise<number>((resolve) => {
      const s = createServer()
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port
        s.close(() => resolve(p))
      })
    })
    const lane = src.lane!
    const real = lane.offer.bind(lane)
    lane.offer = (...args) => {
      return { ...real(...args), port }
    }
    try {
      const data = randomBytes(2 * MiB + 1)
      const sha = sha256Of(data)
      await writeFile(join(src.layout.dataDir, 'blocked.bin'), data)
      await waitFor('announced', () => dst.view.holders(sha).includes(src.peerId))
      const landed = await dst.fetch(sha, { signal: AbortSignal.timeout(60_000) })
      expect((await readFile(join(dst.layout.dataDir, landed.path))).equals(data)).toBe(true)
      const fb = dst.events.list({ types: ['lane_fallback'] }).filter((e) => e.sha256 === sha)
      expect(fb.length).toBeGreaterThan(0)
      expect(fb[0]?.data?.reason).toBe('unreachable')
      expect(dst.events.list({ types: ['sync_failed'] }).filter((e) => e.sha256 === sha)).toEqual([])
    } finally {
      lane.offer = real
    }
  })

  it('a lane whose connect times out (packets dropped) is skipped for that holder for a while: one wait, one event', async () => {
    // accepts TCP and never answers: what a TLS handshake into a black hole looks like
    const accepted: Socket[] = []
    const hole = createServer((sock) => {
      accepted.push(sock)
      sock.on('error', () => {})
    })
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve))
    const port = (hole.address() as { port: number }).port
    const lane = src.lane!
    const real = lane.offer.bind(lane)
    lane.offer = (...args) => ({ ...real(...args), port })
    try {
      const shasHere: string[] = []
      for (const name of ['hole1.bin', 'hole2.bin']) {
        const data = randomBytes(MiB + 7)
        const sha = sha256Of(data)
        shasHere.push(sha)
        await writeFile(join(src.layout.dataDir, name), data)
        await waitFor('announced', () => dst.view.holders(sha).includes(src.peerId))
        const landed = await dst.fetch(sha, { signal: AbortSignal.timeout(60_000) })
        expect((await readFile(join(dst.layout.dataDir, landed.path))).equals(data)).toBe(true)
      }
      expect(dst.events.list({ types: ['lane_fallback'] }).find((e) => e.sha256 === shasHere[0])?.data?.reason).toBe('timeout')
      // the second file did not try the lane again
      expect(dst.events.list({ types: ['lane_fallback'] }).filter((e) => e.sha256 === shasHere[1])).toEqual([])
      expect(accepted.length).toBe(1)
    } finally {
      lane.offer = real
      for (const sock of accepted) sock.destroy()
      await new Promise<void>((resolve) => hole.close(() => resolve()))
    }
  })
})

describe('blob lane: cut mid-transfer, and caps across lane and stream', () => {
  let src: MeshsyncNode
  let viaLane: MeshsyncNode
  let viaStream: MeshsyncNode
  const RATE = 8 * MiB
  beforeAll(async () => {
    src = await startNode({ name: 'lc-src', settings: { ...settings, 'bandwidth.upload': RATE } })
    const boot = [src.addresses[0]!]
    viaLane = await startNode({ name: 'lc-lane', bootstrap: boot, settings })
    viaStream = await startNode({ name: 'lc-stream', bootstrap: boot, settings: { ...settings, 'transfer.lane': 'off' } })
    await waitFor('the source up', () => viaLane.view.get(src.peerId)?.state === 'up' && viaStream.view.get(src.peerId)?.state === 'up')
  })
  afterAll(async () => {
    await stopAll([src, viaLane, viaStream])
  })

  it('a lane cut mid-transfer: the chunks it owed come over the stream and the file lands byte-identical', async () => {
    const data = randomBytes(24 * MiB + 3)
    const sha = sha256Of(data)
    await writeFile(join(src.layout.dataDir, 'cut.bin'), data)
    await waitFor('announced', () => viaLane.view.holders(sha).includes(src.peerId))
    const before = clientOf(viaLane).stats.laneChunks
    const streamBefore = streamChunks(src)
    const landed = viaLane.fetch(sha, { signal: AbortSignal.timeout(90_000) })
    await waitFor('some chunks over the lane', () => clientOf(viaLane).stats.laneChunks - before >= 3, 30_000, 20)
    src.lane!.dropConnections()
    const entry = await landed
    expect((await readFile(join(viaLane.layout.dataDir, entry.path))).equals(data)).toBe(true)
    expect(viaLane.events.list({ types: ['lane_fallback'] }).some((e) => e.sha256 === sha && e.data?.reason === 'cut')).toBe(true)
    expect(streamChunks(src) - streamBefore).toBeGreaterThan(0)
    expect(viaLane.events.list({ types: ['sync_failed'] }).filter((e) => e.sha256 === sha)).toEqual([])
  })

  it('the upload cap holds for a lane receiver and a stream receiver together', async () => {
    const data = randomBytes(16 * MiB)
    const sha = sha256Of(data)
    await writeFile(join(src.layout.dataDir, 'cap.bin'), data)
    await waitFor('announced', () => viaLane.view.holders(sha).includes(src.peerId) && viaStream.view.holders(sha).includes(src.peerId))
    const laneBefore = src.lane!.stats.bytes
    const streamBefore = streamChunks(src)
    const t0 = performance.now()
    await Promise.all([viaLane.fetch(sha, { signal: AbortSignal.timeout(90_000) }), viaStream.fetch(sha, { signal: AbortSignal.timeout(90_000) })])
    const seconds = (performance.now() - t0) / 1000
    // both ways really carried bytes from the holder (the two receivers may also trade chunks between them)
    const laneBytes = src.lane!.stats.bytes - laneBefore
    const streamBytes = (streamChunks(src) - streamBefore) * MiB
    expect(laneBytes).toBeGreaterThanOrEqual(4 * MiB)
    expect(streamBytes).toBeGreaterThanOrEqual(4 * MiB)
    // everything the holder sent went through its one 8 MiB/s bucket (a lower bound, so load cannot make it pass wrongly;
    // 2 MiB of slack for the buckets' bursts)
    expect(laneBytes + streamBytes).toBeGreaterThanOrEqual(16 * MiB)
    expect(seconds).toBeGreaterThanOrEqual((laneBytes + streamBytes - 2 * MiB) / RATE)
  })
})
