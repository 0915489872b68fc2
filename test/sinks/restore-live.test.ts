import { createHash } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { eventsOf, REPLICATION_FAST, writeRandom } from '../replication/support.js'
import { type LocalS3, S3_ENV, startS3 } from './s3rver.js'

/**
 * A file's only holder is lost (stopped, data dir deleted). Once its grace
 * has passed, the node placement wants the file on finds no live source and
 * pulls it from the sink, verified and landed like any transfer.
 */
describe('restore when no live node holds a file', () => {
  let s3: LocalS3
  let nodes: MeshsyncNode[] = []

  beforeAll(async () => {
    s3 = await startS3()
    Object.assign(process.env, S3_ENV)
  })
  afterAll(async () => {
    await stopAll(nodes)
    await s3.close()
  })

  it('pulls the file from the sink, byte-identical', async () => {
    const settings = {
      ...REPLICATION_FAST,
      'node.role': 'storage',
      // the machine's load must not make b refuse the file (backpressure): this test is about the sink
      'replication.backpressureLoad': 1000,
      sinks: { intervalSeconds: 0.5, cloud: s3.sinkConfig({ prefix: 'live' }) },
      // one copy is enough, so b never pulls it from a while a lives
      policies: { one: { minCopies: 1, maxCopies: 1, backup: ['cloud'] } },
    }
    const a = await startNode({ name: 'a', settings })
    const b = await startNode({ name: 'b', bootstrap: [a.addresses[0]!], settings })
    nodes = [a, b]
    await waitFor('a and b see each other', () => a.view.peers().some((p) => p.state === 'up') && b.view.peers().some((p) => p.state === 'up'), 30_000)
    const sha = await writeRandom(a, 'games/only-on-a.db.bin', 200_000)
    await waitFor('a backed it up', async () => {
      await a.rescan()
      return eventsOf(a, 'backup_completed').some((e) => e.sha256 === sha)
    }, 30_000)
    await waitFor('b knows a holds it', () => b.view.peers().some((p) => [...p.entries.values()].some((e) => e.sha256 === sha)), 30_000)
    expect(b.manifest.bySha(sha)).toEqual([])

    await a.stop()
    await rm(a.layout.dataDir, { recursive: true, force: true })
    nodes = [b]
    const done = await waitFor('b restored it from the sink', () => eventsOf(b, 'restore_completed').find((e) => e.sha256 === sha), 120_000)
    expect(done.data?.sink).toBe('cloud')
    const local = b.manifest.bySha(sha)[0]!
    const bytes = await readFile(join(b.layout.dataDir, local.path))
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(sha)
  }, 300_000)
})
