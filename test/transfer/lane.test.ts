import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BlobClient, BlobServer } from '../../protocols/blob/index.js'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { NO_REPLICATION, sha256Of } from './support.js'

const MiB = 1024 * 1024
const settings = { ...NO_REPLICATION, 'bittorrent.enabled': false }

const clientOf = (n: MeshsyncNode): BlobClient => n.mesh.services.blobClient as BlobClient
const serverOf = (n: MeshsyncNode): BlobServer => n.mesh.services.blobServer as BlobServer
/** Chunks a holder sent over blob streams, not lanes. */
const streamChunks = (n: MeshsyncNode): number => serverOf(n).stats.chunks - serverOf(n).stats.laneChunks

/** A real holder and receiver on loopback; chunk bytes go over the TLS lane, control over the blob stream. */
describe('blob lane: transfers at interesting sizes', () => {
  let src: MeshsyncNode
  let dst: MeshsyncNode
  beforeAll(async () => {
    src = await startNode({ name: 'ln-src', settings })
    dst = await startNode({ name: 'ln-dst', bootstrap: [src.addresses[0]!], settings })
    await waitFor('the source up in the receiver view', () => dst.view.get(src.peerId)?.state === 'up')
  })
  afterAll(async () => {
    await stopAll([src, dst])
  })

  it('announces the lane port in health', async () => {
    expect(src.lane?.port).toBeGreaterThan(0)
    await waitFor('lane port in health', () => dst.view.get(src.peerId)?.health?.lanePort === src.lane!.port)
    expect(dst.view.get(src.peerId)?.health?.transports).toContain('lane')
  })

  for (const size of [0, 1, MiB - 1, MiB, MiB + 1, 9 * MiB + 3]) {
    it(`moves ${size} bytes byte-identical, every chunk over the lane`, async () => {
      const data = randomBytes(size)
      const sha = sha256Of(data)
      const name = `f-${size}.bin`
      await writeFile(join(src.layout.dataDir, name), data)
      await waitFor('announced', () => dst.view.holders(sha).includes(src.peerId))
      const laneBefore = src.lane!.stats.chunks
      const streamBefore = streamChunks(src)
      const recvBefore = clientOf(dst).stats.laneChunks
      const landed = await dst.fetch(sha, { signal: AbortSignal.timeout(60_000) })
      expect((await readFile(join(dst.layout.dataDir, landed.path))).equals(data)).toBe(true)
      const chunks = Math.ceil(size / MiB)
      expect(src.lane!.stats.chunks - laneBefore).toBeGreaterThanOrEqual(chunks)
      expect(clientOf(dst).stats.laneChunks - recvBefore).toBeGreaterThanOrEqual(chunks)
      // no chunk bytes on the stream
      expect(streamChunks(src) - streamBefore).toBe(0)
      expect(dst.events.list({ types: ['lane_fallback'] })).toEqual([])
      expect(dst.events.list({ types: ['sync_completed'] }).find((e) => e.sha256 === sha)?.data).toMatchObject({ checksumVerified: true })
    })
  }
})

describe('blob lane: a holder that lies over the lane', () => {
  let honest: MeshsyncNode
  let liar: MeshsyncNode
  let dst: MeshsyncNode
  beforeAll(async () => {
    honest = await startNode({ name: 'll-honest', settings: { ...settings, 'bandwidth.upload': 8 * MiB } })
    const boot = [honest.addresses[0]!]
    liar = await startNode({ name: 'll-liar', bootstrap: boot, settings: { ...settings, 'debug.corruptServeRate': 1 } })
    dst = await startNode({ name: 'll-dst', bootstrap: boot, settings })
    await waitFor('both holders up', () => dst.view.get(honest.peerId)?.state === 'up' && dst.view.get(liar.peerId)?.state === 'up')
  })
  afterAll(async () => {
    await stopAll([honest, liar, dst])
  })

  it('rejects every corrupt lane chunk naming the liar and lands byte-identical from the honest holder', async () => {
    const data = randomBytes(12 * MiB + 5)
    const sha = sha256Of(data)
    await writeFile(join(honest.layout.dataDir, 'x.bin'), data)
    await writeFile(join(liar.layout.dataDir, 'x.bin'), data)
    await waitFor('both holders known', () => dst.view.holders(sha).includes(honest.peerId) && dst.view.holders(sha).includes(liar.peerId))
    const landed = await dst.fetch(sha, { signal: AbortSignal.timeout(60_000) })
    expect((await readFile(join(dst.layout.dataDir, landed.path))).equals(data)).toBe(true)
    // the liar served over its lane (corruptServeRate applies there too) and each such chunk was caught
    expect(liar.lane!.stats.chunks).toBeGreaterThan(0)
    expect(streamChunks(liar)).toBe(0)
    const rejected = dst.events.list({ types: ['chunk_rejected'] }).filter((e) => e.sha256 === sha)
    expect(rejected.length).toBeGreaterThan(0)
    expect(rejected.length).toBeLessThanOrEqual(liar.lane!.stats.chunks)
    for (const e of rejected) expect(e.peer).toBe(liar.peerId)
    expect(dst.events.list({ types: ['chunk_rejected'] }).filter((e) => e.peer === honest.peerId)).toEqual([])
    expect(honest.lane!.stats.chunks).toBeGreaterThan(0)
  })
})
