import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import type { FileJson } from '../../src/node/read-models.js'
import type { QuarantineRecord } from '../../src/quarantine/quarantine.js'
import type { MeshsyncEvent } from '../../src/state/event-log.js'
import { api, startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { dataFiles, NO_REPLICATION, sha256Of } from './support.js'

const MiB = 1024 * 1024
/** 25 chunks of 1 MiB: at 30% corruption the chance that none is hit is 0.7^25, about 1e-4. */
const SIZE = 24 * MiB + 777
const PIPELINE = 8

/**
 * One holder of a file, and a flaky one: it corrupts 30% of the chunks it
 * serves (debug.corruptServeRate). It is the only source, so the receiver
 * must keep what it verified, keep asking that holder (its circuit breaker
 * may be open, but never shuts out the only source), reject every bad
 * chunk, and land the file byte-identical, showing it at risk meanwhile.
 */
describe('a flaky sole holder', () => {
  let nodes: MeshsyncNode[] = []
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
  })

  async function pair(receiver: Record<string, unknown> = {}, holder: Record<string, unknown> = {}): Promise<[MeshsyncNode, MeshsyncNode]> {
    const src = await startNode({ name: 'fs-holder', settings: { ...NO_REPLICATION, 'debug.corruptServeRate': 0.3, ...holder } })
    const dst = await startNode({
      name: 'fs-dst',
      bootstrap: [src.addresses[0]!],
      settings: { ...NO_REPLICATION, 'transfer.pipelinePerSource': PIPELINE, 'transfer.backoffBaseSeconds': 0.2, 'transfer.backoffMaxSeconds': 1, ...receiver },
    })
    nodes = [src, dst]
    await waitFor('the holder up in the receiver view', () => dst.view.get(src.peerId)?.state === 'up')
    return [src, dst]
  }

  async function offer(src: MeshsyncNode, dst: MeshsyncNode): Promise<{ data: Buffer; sha: string }> {
    const data = randomBytes(SIZE)
    const sha = sha256Of(data)
    await writeFile(join(src.layout.dataDir, 'model.bin'), data)
    await waitFor('the receiver sees the file', () => dst.view.holders(sha).includes(src.peerId))
    return { data, sha }
  }

  /** Landed byte-identical, every bad chunk caught (naming the holder) and none of them written. */
  async function checkLanded(src: MeshsyncNode, dst: MeshsyncNode, data: Buffer, sha: string): Promise<Record<string, unknown>> {
    expect((await readFile(join(dst.layout.dataDir, 'model.bin'))).equals(data)).toBe(true)
    expect(await dataFiles(dst.layout.dataDir)).toEqual(['model.bin'])
    expect(await api<QuarantineRecord[]>(dst, '/quarantine')).toEqual([])
    const rejected = dst.events.list({ types: ['chunk_rejected'] }).filter((e) => e.sha256 === sha)
    expect(rejected.length).toBeGreaterThan(0)
    for (const e of rejected) expect(e.peer).toBe(src.peerId)
    const done = dst.events.list({ types: ['sync_completed'] }).find((e) => e.sha256 === sha)
    expect(done?.data).toMatchObject({ checksumVerified: true })
    expect(done?.data?.sources).toEqual([src.peerId])
    return done!.data!
  }

  it('lands the file verified through an open breaker, probing the holder at a bounded rate, and shows it at risk meanwhile', async () => {
    // the breaker would stay open for 10 minutes: without the sole-holder probe nothing is ever asked of the holder
    const [src, dst] = await pair({ 'transfer.circuitBreaker.openSeconds': 600, 'transfer.circuitBreaker.soleProbeSeconds': 1 }, { 'bandwidth.upload': 6 * MiB })
    const { data, sha } = await offer(src, dst)
    dst.breakers.trip(src.peerId)
    expect(dst.breakers.state(src.peerId)).toBe('open')

    const landing = dst.fetch(sha, { signal: AbortSignal.timeout(90_000) })
    // while it moves, the file is shown at risk: in /status, in /files and as an event
    const status = await waitFor('the file at risk in /status', async () => {
      const s = await api<{ replication: { atRisk: { sha256: string; peer: string; reason: string }[] } }>(dst, '/status')
      return s.replication.atRisk.find((f) => f.sha256 === sha)
    })
    expect(status.peer).toBe(src.peerId)
    const file = (await api<FileJson[]>(dst, '/files')).find((f) => f.sha256 === sha)
    expect(file?.atRisk).toMatchObject({ copies: 1, minCopies: 1, flakyHolder: src.peerId, flakyHolderName: 'fs-holder' })
    const risk = dst.events.list({ types: ['file_at_risk'] })
    expect(risk.map((e) => [e.sha256, e.peer])).toEqual([[sha, src.peerId]])

    await landing
    const done = await checkLanded(src, dst, data, sha)
    // the verified chunks were kept: only the rejected ones, and what was in flight when a session was cut, came twice
    const rejected = dst.events.list({ types: ['chunk_rejected'] }).filter((e) => e.sha256 === sha).length
    expect(done.bytesReceived as number).toBeLessThanOrEqual(SIZE + (rejected + 2 * PIPELINE) * MiB)
    // no longer at risk once it landed
    const after = await api<{ replication: { atRisk: unknown[] } }>(dst, '/status')
    expect(after.replication.atRisk).toEqual([])
    expect((await api<FileJson[]>(dst, '/files')).find((f) => f.sha256 === sha)?.atRisk).toBeUndefined()
  }, 120_000)

  it('keeps the only holder after its bad chunks instead of dropping it: one attempt, no "no reachable holder"', async () => {
    const [src, dst] = await pair()
    const { data, sha } = await offer(src, dst)
    await dst.fetch(sha, { signal: AbortSignal.timeout(90_000) })
    await checkLanded(src, dst, data, sha)
    const failed: MeshsyncEvent[] = dst.events.list({ types: ['sync_failed'] })
    expect(failed.map((e) => e.data?.reason)).toEqual([])
  }, 120_000)

  it('resumes from the chunks it verified when an attempt ends midway', async () => {
    // each attempt is cut after 3 s (the holder sends 4 MiB/s): the file needs several, each resuming from the last
    const [src, dst] = await pair({ 'transfer.timeoutSeconds': 3, 'transfer.retries': 30 }, { 'bandwidth.upload': 4 * MiB })
    const { data, sha } = await offer(src, dst)
    await dst.fetch(sha, { signal: AbortSignal.timeout(100_000) })
    const done = await checkLanded(src, dst, data, sha)
    const failed = dst.events.list({ types: ['sync_failed'] }).filter((e) => e.sha256 === sha)
    expect(failed.length).toBeGreaterThan(0)
    expect(done.resumedChunks as number).toBeGreaterThan(0)
  }, 120_000)
})
