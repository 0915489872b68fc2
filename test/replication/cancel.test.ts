import { readdir } from 'node:fs/promises'
import { afterAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { CancelledError } from '../../src/util/errors.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { eventsOf, holdersOnDisk, REPLICATION_FAST, writeRandom } from './support.js'

const MiB = 1024 * 1024

/**
 * A replica pull that is already running is called off once every node
 * placement wants holds the file: the copy would be one too many and
 * trimming would delete it again. Real nodes; the slow puller has a 2 MB/s
 * download cap so its pull is still running when the wanted copy lands.
 */
describe('a running replica pull that placement no longer needs', () => {
  const nodes: MeshsyncNode[] = []
  afterAll(async () => stopAll(nodes))

  it('is cancelled when the wanted holders have it: staging and chunk map go, waiters get CancelledError', async () => {
    const gen = await startNode({ name: 'gen', settings: { ...REPLICATION_FAST, 'node.role': 'selfplay' } })
    nodes.push(gen)
    const boot = [gen.addresses[0]!]
    // a coordinator never receives games under the built-in policy: placement never wants it here
    const slow = await startNode({ name: 'slow', bootstrap: boot, settings: { ...REPLICATION_FAST, 'node.role': 'coordinator', 'bandwidth.download': '2MB' } })
    nodes.push(slow)
    const sha = await writeRandom(gen, 'games/big.db.bin', 24 * MiB)
    await gen.rescan()
    const entry = await waitFor('slow knows the file', () => slow.view.entryFor(sha))

    // the slow node pulls it as a replica (as if its placement had wanted it a moment ago)
    expect(slow.transfers.want(entry, { priority: 'normal', reason: 'replica', copies: 1 })).toBe('queued')
    const waited = slow.transfers.wait(sha).then(
      () => 'landed',
      (err: unknown) => err,
    )
    await waitFor('the pull is running with bytes in', () => (slow.transfers.progress(sha)?.bytes ?? 0) > MiB)
    // one holder only (a coordinator's copy would not count): not satisfied, so it keeps running
    await new Promise((r) => setTimeout(r, 1500))
    expect(slow.transfers.list().find((t) => t.sha256 === sha)?.state).toBe('active')

    // a storage node joins and takes the second copy quickly
    const st = await startNode({ name: 'st', bootstrap: boot, settings: { ...REPLICATION_FAST, 'node.role': 'storage' } })
    nodes.push(st)
    await waitFor('st holds the file', async () => (await holdersOnDisk([st], sha)).length === 1, 30_000)

    const cancelled = await waitFor('sync_cancelled on the slow node', () => eventsOf(slow, 'sync_cancelled').find((e) => e.sha256 === sha), 15_000)
    expect(cancelled.data).toMatchObject({ reason: 'enough copies elsewhere', wantedAs: 'replica' })
    expect((cancelled.data as { bytesVerified: number }).bytesVerified).toBeGreaterThan(MiB)
    expect((cancelled.data as { bytesVerified: number }).bytesVerified).toBeLessThan(24 * MiB)
    const err = await waited
    expect(err).toBeInstanceOf(CancelledError)
    expect(slow.transfers.list().find((t) => t.sha256 === sha)).toBeUndefined()
    await waitFor('staging is empty', async () => (await readdir(slow.layout.staging)).length === 0, 5000)
    expect(slow.manifest.bySha(sha)).toEqual([])
    expect(eventsOf(slow, 'sync_failed').filter((e) => e.sha256 === sha)).toEqual([])
    // and it is not pulled again: placement does not want it there
    await new Promise((r) => setTimeout(r, 2000))
    expect(slow.transfers.list().find((t) => t.sha256 === sha)).toBeUndefined()
    expect((await holdersOnDisk(nodes, sha)).sort()).toEqual(['gen', 'st'])
  }, 90_000)

  it('a manual fetch is never cancelled by placement', async () => {
    const [gen, slow] = nodes as [MeshsyncNode, MeshsyncNode]
    const sha = await writeRandom(gen, 'games/manual.bin', 6 * MiB)
    await gen.rescan()
    await waitFor('slow knows the file', () => slow.view.entryFor(sha))
    const landed = await slow.fetch(sha, { signal: AbortSignal.timeout(30_000) })
    expect(landed.sha256).toBe(sha)
    expect(eventsOf(slow, 'sync_cancelled').filter((e) => e.sha256 === sha)).toEqual([])
  }, 60_000)
})
