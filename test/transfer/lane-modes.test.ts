import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeSwarmKey } from '../../bootstrap/swarm-key.js'
import { connectLane, LaneUnavailableError } from '../../protocols/blob/lane/index.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeHealth, encodeHealth, type HealthReport } from '../../protocols/health/index.js'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { NO_REPLICATION, sha256Of } from './support.js'

const MiB = 1024 * 1024
const settings = { ...NO_REPLICATION, 'bittorrent.enabled': false }

describe('health lane_port', () => {
  const h: HealthReport = {
    seq: 1, timeMs: 1, name: 'n', role: 'worker', provider: '', tags: [], ephemeral: false,
    disk: { total: 1, free: 1, usedFraction: 0, level: 'ok' }, load: 0, accepting: true, version: 'v', uptimeMs: 1,
    addrs: [], btPort: 0, transports: ['libp2p', 'lane'], manifest: { seq: 1, digest: '00'.repeat(32), count: 0 },
    evacuating: false, evacuateDeadlineMs: 0, downloading: [], transfersActive: 0,
  }
  it('round-trips a lane port, reads a missing one as 0 and refuses one over 65535', () => {
    expect(decodeHealth(encodeHealth({ ...h, lanePort: 40123 })).lanePort).toBe(40123)
    expect(decodeHealth(encodeHealth(h)).lanePort).toBe(0)
    expect(() => decodeHealth(encodeHealth({ ...h, lanePort: 65536 }))).toThrow(/lane_port/)
  })
})

/** A holder without a lane is what an old peer looks like to a receiver. */
describe('transfer.lane modes against a holder that offers no lane', () => {
  let src: MeshsyncNode
  let auto: MeshsyncNode
  let only: MeshsyncNode
  beforeAll(async () => {
    src = await startNode({ name: 'lm-src', settings: { ...settings, 'transfer.lane': 'off' } })
    const boot = [src.addresses[0]!]
    auto = await startNode({ name: 'lm-auto', bootstrap: boot, settings })
    only = await startNode({ name: 'lm-only', bootstrap: boot, settings: { ...settings, 'transfer.lane': 'only', 'transfer.retries': 0 } })
    await waitFor('the source up', () => auto.view.get(src.peerId)?.state === 'up' && only.view.get(src.peerId)?.state === 'up')
  })
  afterAll(async () => {
    await stopAll([src, auto, only])
  })

  it('lane off: no listener, no lane port in health', async () => {
    expect(src.lane).toBeUndefined()
    await waitFor('health seen', () => auto.view.get(src.peerId)?.health != null)
    expect(auto.view.get(src.peerId)?.health?.lanePort).toBe(0)
    expect(auto.view.get(src.peerId)?.health?.transports).not.toContain('lane')
  })

  it('auto: the file comes over the stream, with one lane_fallback event and no error', async () => {
    const data = randomBytes(2 * MiB + 3)
    const sha = sha256Of(data)
    await writeFile(join(src.layout.dataDir, 'old.bin'), data)
    await waitFor('announced', () => auto.view.holders(sha).includes(src.peerId))
    const landed = await auto.fetch(sha, { signal: AbortSignal.timeout(60_000) })
    expect((await readFile(join(auto.layout.dataDir, landed.path))).equals(data)).toBe(true)
    const fb = auto.events.list({ types: ['lane_fallback'] }).filter((e) => e.sha256 === sha)
    expect(fb.map((e) => e.data?.reason)).toEqual(['not-offered'])
    expect(auto.events.list({ types: ['sync_failed'] })).toEqual([])
  })

  it('only: a holder without a lane is not used, and the fetch fails', async () => {
    const data = randomBytes(MiB + 3)
    const sha = sha256Of(data)
    await writeFile(join(src.layout.dataDir, 'only.bin'), data)
    await waitFor('announced', () => only.view.holders(sha).includes(src.peerId))
    const err = await only.fetch(sha, { signal: AbortSignal.timeout(60_000) }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(Error)
    // refused for want of a lane (not a timeout): the only holder was dropped as a source
    expect((err as Error).message).toMatch(/no reachable holder/)
    expect(only.events.list({ types: ['sync_failed'] }).some((e) => e.sha256 === sha)).toBe(true)
  })
})

describe('blob lane with a swarm key', () => {
  let dir: string
  let a: MeshsyncNode
  let b: MeshsyncNode
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshsync-lane-psk-'))
    const key = join(dir, 'swarm.key')
    await writeSwarmKey(key)
    a = await startNode({ name: 'lp-a', settings: { ...settings, swarmKey: key } })
    b = await startNode({ name: 'lp-b', bootstrap: [a.addresses[0]!], settings: { ...settings, swarmKey: key } })
    await waitFor('the source up', () => b.view.get(a.peerId)?.state === 'up')
  })
  afterAll(async () => {
    await stopAll([a, b])
    await rm(dir, { recursive: true, force: true })
  })

  it('moves the file over the lane between swarm members', async () => {
    const data = randomBytes(3 * MiB + 11)
    const sha = sha256Of(data)
    await writeFile(join(a.layout.dataDir, 'p.bin'), data)
    await waitFor('announced', () => b.view.holders(sha).includes(a.peerId))
    const landed = await b.fetch(sha, { signal: AbortSignal.timeout(60_000) })
    expect((await readFile(join(b.layout.dataDir, landed.path))).equals(data)).toBe(true)
    expect(a.lane!.stats.chunks).toBeGreaterThanOrEqual(4)
    expect(b.events.list({ types: ['lane_fallback'] })).toEqual([])
  })

  it('someone on a cluster host without the swarm key knows the port and certificate but gets nothing without a token', async () => {
    const offer = { port: a.lane!.port, fingerprint: a.lane!.fingerprint, token: new Uint8Array(randomBytes(32)), ttlMs: 10_000 }
    const before = a.lane!.stats.refused.badToken
    const err = await connectLane('127.0.0.1', offer, '00'.repeat(32), AbortSignal.timeout(10_000)).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(LaneUnavailableError)
    expect((err as LaneUnavailableError).reason).toBe('token')
    expect(a.lane!.stats.refused.badToken).toBe(before + 1)
  })
})
