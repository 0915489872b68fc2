import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BlobServer } from '../../protocols/blob/index.js'
import type { MeshsyncNode } from '../../src/node.js'
import type { QuarantineRecord } from '../../src/quarantine/quarantine.js'
import type { MeshsyncEvent } from '../../src/state/event-log.js'
import { api, startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { dataFiles, NO_REPLICATION, sha256Of } from './support.js'

const MiB = 1024 * 1024
const SIZE = 16 * MiB + 777
const CHUNKS = 17
const PIPELINE = 8

/**
 * Two holders of one file, one of them lying (debug.corruptServeRate = 1:
 * every chunk it sends has a flipped byte). The receiver must catch each bad
 * chunk on arrival, name the liar, keep what it verified, and finish from the
 * honest holder.
 */
describe('a lying sender', () => {
  let honest: MeshsyncNode
  let liar: MeshsyncNode
  let dst: MeshsyncNode
  beforeAll(async () => {
    // the honest holder is capped so the download lasts long enough for both holders to be asked
    honest = await startNode({ name: 'ly-honest', settings: { ...NO_REPLICATION, 'bandwidth.upload': 8 * MiB } })
    const boot = [honest.addresses[0]!]
    liar = await startNode({ name: 'ly-liar', bootstrap: boot, settings: { ...NO_REPLICATION, 'debug.corruptServeRate': 1 } })
    dst = await startNode({ name: 'ly-dst', bootstrap: boot, settings: { ...NO_REPLICATION, 'transfer.pipelinePerSource': PIPELINE } })
    await waitFor('both holders up in the receiver view', () => dst.view.get(honest.peerId)?.state === 'up' && dst.view.get(liar.peerId)?.state === 'up')
  })
  afterAll(async () => {
    await stopAll([honest, liar, dst])
  })

  it('rejects the corrupt chunks naming the liar, keeps the rest, and lands byte-identical from the honest holder', async () => {
    const data = randomBytes(SIZE)
    const sha = sha256Of(data)
    await writeFile(join(honest.layout.dataDir, 'shard.bin'), data)
    await writeFile(join(liar.layout.dataDir, 'shard.bin'), data)
    await waitFor('both holders known to the receiver', () => {
      const h = dst.view.holders(sha)
      return h.includes(honest.peerId) && h.includes(liar.peerId)
    })

    const landed = await dst.fetch(sha, { signal: AbortSignal.timeout(60_000) })
    expect((await readFile(join(dst.layout.dataDir, landed.path))).equals(data)).toBe(true)

    // the liar really served chunks, and each one it served was caught, at its index, naming it
    const served = (liar.mesh.services.blobServer as BlobServer).stats.chunks
    expect(served).toBeGreaterThan(0)
    const rejected = (await api<MeshsyncEvent[]>(dst, '/events?type=chunk_rejected')).filter((e) => e.sha256 === sha)
    expect(rejected.length).toBeGreaterThan(0)
    expect(rejected.length).toBeLessThanOrEqual(served)
    for (const e of rejected) {
      expect(e.peer).toBe(liar.peerId)
      expect(Number.isInteger(e.data?.chunk) && (e.data?.chunk as number) >= 0 && (e.data?.chunk as number) < CHUNKS).toBe(true)
    }
    // nothing was counted against the honest holder
    expect(dst.events.list({ types: ['chunk_rejected'] }).filter((e) => e.peer === honest.peerId)).toEqual([])

    const done = (await api<MeshsyncEvent[]>(dst, '/events?type=sync_completed')).find((e) => e.sha256 === sha)
    expect(done?.data).toMatchObject({ checksumVerified: true, badChunks: rejected.length })
    expect(done?.data?.sources).toContain(honest.peerId)
    // the verified chunks were kept: only the rejected ones (and at most one pipeline of endgame duplicates) came twice
    expect(done?.data?.bytesReceived as number).toBeLessThanOrEqual(SIZE + (rejected.length + PIPELINE) * MiB)
    // one attempt, nothing quarantined, nothing but the file in the data dir
    expect(dst.events.list({ types: ['sync_failed'] })).toEqual([])
    expect(await api<QuarantineRecord[]>(dst, '/quarantine')).toEqual([])
    expect(await dataFiles(dst.layout.dataDir)).toEqual(['shard.bin'])
  })
})
