import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import type { MeshsyncEvent } from '../../src/state/event-log.js'
import { api, startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { copyFixtures, NO_REPLICATION, sha256Of, sha256OfFile, sseCollector } from './support.js'

const TYPES = ['sync_started', 'sync_completed', 'sync_failed', 'quarantined']

/**
 * What a transfer tells observers: sync_started, then sync_completed (with
 * checksumVerified) or quarantined + sync_failed, in GET /events and live
 * on the server-sent event stream.
 */
describe('transfer events', () => {
  let src: MeshsyncNode
  let dst: MeshsyncNode
  beforeAll(async () => {
    // the source does not validate, so it announces a broken database and the receiver must catch it
    src = await startNode({ name: 'ev-src', settings: { ...NO_REPLICATION, 'catalog.validateLocal': false } })
    dst = await startNode({ name: 'ev-dst', bootstrap: [src.addresses[0]!], settings: NO_REPLICATION })
    await waitFor('the source up in the receiver view', () => dst.view.get(src.peerId)?.state === 'up')
  })
  afterAll(async () => {
    await stopAll([src, dst])
  })

  it('appear in GET /events and on /events/stream, in order, with their fields', async () => {
    const live = sseCollector(`http://${dst.apiAddress}/events/stream`)
    const filtered = sseCollector(`http://${dst.apiAddress}/events/stream?type=sync_completed`)
    try {
      // a subscriber is answered at once, not at the first event or keep-alive ping
      const opened = Promise.all([live.ready, filtered.ready]).then(() => 'open')
      expect(await Promise.race([opened, new Promise((r) => setTimeout(() => r('not open after 5 s'), 5000))])).toBe('open')
      const good = randomBytes(2 * 1024 * 1024 + 3)
      const goodSha = sha256Of(good)
      await writeFile(join(src.layout.dataDir, 'good.bin'), good)
      await copyFixtures(src.layout.dataDir, ['sqlite/not_sqlite.db'])
      const badSha = await sha256OfFile(join(src.layout.dataDir, 'sqlite/not_sqlite.db'))
      await waitFor('both announced', () => dst.view.holders(goodSha).includes(src.peerId) && dst.view.holders(badSha).includes(src.peerId))

      await dst.fetch(goodSha, { signal: AbortSignal.timeout(30_000) })
      await expect(dst.fetch(badSha, { signal: AbortSignal.timeout(30_000) })).rejects.toMatchObject({ code: 'ERR_VALIDATION' })

      const polled = (await api<MeshsyncEvent[]>(dst, `/events?type=${TYPES.join(',')}`)).filter((e) => e.sha256 === goodSha || e.sha256 === badSha)
      expect(polled.map((e) => [e.type, e.sha256])).toEqual([
        ['sync_started', goodSha],
        ['sync_completed', goodSha],
        ['sync_started', badSha],
        ['quarantined', badSha],
        ['sync_failed', badSha],
      ])
      const [started, completed, , quarantined, failed] = polled as [MeshsyncEvent, MeshsyncEvent, MeshsyncEvent, MeshsyncEvent, MeshsyncEvent]
      expect(started).toMatchObject({ path: 'good.bin', data: { size: good.byteLength, attempt: 1, reason: 'manual' } })
      expect(completed).toMatchObject({ path: 'good.bin', data: { checksumVerified: true, size: good.byteLength, bytesReceived: good.byteLength, sources: [src.peerId], badChunks: 0 } })
      expect(quarantined).toMatchObject({ path: 'sqlite/not_sqlite.db', peer: src.peerId, data: { foundAt: 'receiver', expectedSha256: badSha } })
      expect(quarantined.sha256).toBe(badSha)
      expect(String(quarantined.data?.reason)).toContain('not a database')
      expect(failed).toMatchObject({ path: 'sqlite/not_sqlite.db', data: { code: 'ERR_VALIDATION', final: true, attempt: 1 } })
      expect(String(failed.data?.reason)).toContain('not a database')

      // the same events, with the same ids and fields, came live on the stream
      await waitFor('the live stream to carry them', () => polled.every((p) => live.events.some((e) => e.id === p.id)), 10_000)
      for (const p of polled) expect(live.events.find((e) => e.id === p.id)).toEqual(p)
      // a filtered stream carries only its type
      await waitFor('the filtered stream', () => filtered.events.some((e) => e.id === completed.id), 10_000)
      expect(new Set(filtered.events.map((e) => e.type))).toEqual(new Set(['sync_completed']))
    } finally {
      live.close()
      filtered.close()
    }
  })

  it('replays the backlog on /events/stream?since=', async () => {
    const replay = sseCollector(`http://${dst.apiAddress}/events/stream?since=0&type=${TYPES.join(',')}`)
    try {
      const polled = await api<MeshsyncEvent[]>(dst, `/events?type=${TYPES.join(',')}`)
      expect(polled.length).toBeGreaterThanOrEqual(5)
      await waitFor('the backlog', () => replay.events.length >= polled.length, 10_000)
      expect(replay.events.slice(0, polled.length)).toEqual(polled)
    } finally {
      replay.close()
    }
  })
})
