import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { S3Sink } from '../../src/sinks/s3.js'
import { verifySinkCopy } from '../../src/sinks/verify.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { eventsOf, holdersOnDisk, REPLICATION_FAST, writeRandom } from '../replication/support.js'
import { type LocalS3, S3_ENV, startS3 } from './s3rver.js'

const MiB = 1024 * 1024

/**
 * x (a 5 MiB quota) is over its cleanup threshold and two other live nodes
 * hold every file, which alone would allow a delete. With
 * disk.requireBackupForDelete nothing goes while the sink is down; once it is
 * back, x deletes only files whose sink copy was verified, and each delete
 * names the sink among its attesters.
 */
describe('deletion with requireBackupForDelete, 3 real nodes and s3rver', () => {
  let s3: LocalS3
  let nodes: MeshsyncNode[] = []
  let x: MeshsyncNode

  beforeAll(async () => {
    s3 = await startS3()
    Object.assign(process.env, S3_ENV)
    const sinks = { intervalSeconds: 0.5, verifyMaxAgeSeconds: 3600, cloud: s3.sinkConfig({ prefix: 'delete' }) }
    const settings = {
      ...REPLICATION_FAST,
      'node.role': 'storage',
      'replication.backpressureLoad': 1000,
      'disk.requireBackupForDelete': true,
      sinks,
      policies: { data: { minCopies: 2, maxCopies: 3, backup: ['cloud'] } },
    }
    // the sink is down from the start
    await s3.stop()
    x = await startNode({ name: 'x', settings: { ...settings, 'disk.quota': 5 * MiB } })
    const boot = [x.addresses[0]!]
    const rest = await Promise.all(['a', 'b'].map((name) => startNode({ name, bootstrap: boot, settings })))
    nodes = [x, ...rest]
    await waitFor('all up', () => nodes.every((n) => n.view.peers().filter((p) => p.state === 'up').length === 2), 30_000)
  }, 60_000)

  afterAll(async () => {
    await stopAll(nodes)
    await s3.close()
  })

  it('deletes nothing the sink has not verified; deletes once it has', async () => {
    const shas: string[] = []
    for (let i = 0; i < 4; i++) shas.push(await writeRandom(x, `data/part-${i}.dat`, MiB))
    await waitFor('a and b hold every file', async () => {
      await x.rescan()
      for (const sha of shas) if ((await holdersOnDisk(nodes, sha)).filter((n) => n !== 'x').length < 2) return false
      return true
    }, 120_000)
    // the disk loop reads the quota every 2 s: the level follows the catalog, not at once
    await waitFor('x is full', () => x.diskLevel === 'full', 20_000)
    // the sink is unreachable: health says so, and cleanup refuses
    await waitFor('x sees the sink down', () => x.sinks.status().some((s) => (s as { reason?: string }).reason === 'unreachable'), 20_000)
    x.cleanup.poke()
    await new Promise((r) => setTimeout(r, 3000))
    expect(eventsOf(x, 'file_deleted')).toEqual([])
    for (const sha of shas) expect(await holdersOnDisk(nodes, sha)).toContain('x')

    await s3.start()
    const deleted = await waitFor('x deleted a file', () => {
      x.cleanup.poke()
      const d = eventsOf(x, 'file_deleted')
      return d.length > 0 ? d : undefined
    }, 120_000)
    const sink = new S3Sink('cloud', s3.sinkConfig({ prefix: 'delete' }), { env: S3_ENV })
    for (const ev of deleted) {
      expect(ev.data?.attestedBy).toContain('sink:cloud')
      const v = await verifySinkCopy(sink, { sha256: ev.sha256!, size: MiB, kind: 'other', chunkRoot: '' }, { rehash: true })
      expect(v.ok).toBe(true)
      expect((await holdersOnDisk(nodes, ev.sha256!)).length).toBeGreaterThanOrEqual(2)
    }
    expect(eventsOf(x, 'backup_completed').length + eventsOf(nodes[1]!, 'backup_completed').length + eventsOf(nodes[2]!, 'backup_completed').length).toBeGreaterThanOrEqual(deleted.length)
    // /files shows the sink among the holders
    const files = x.readModels.files()
    expect(files.some((f) => f.holders.includes('sink:cloud'))).toBe(true)
  }, 300_000)
})
