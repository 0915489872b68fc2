import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { NO_REPLICATION, sha256Of } from './support.js'

const MiB = 1024 * 1024

/**
 * The endgame duplicates a tail chunk only for a session that has nothing
 * else to do: two equally fast holders (both capped at the same rate) do not
 * make the receiver fetch the tail twice.
 */
describe('endgame with two equal sources', () => {
  let a: MeshsyncNode
  let b: MeshsyncNode
  let r: MeshsyncNode
  const SIZE = 24 * MiB + 5
  const data = randomBytes(SIZE)
  const sha = sha256Of(data)

  beforeAll(async () => {
    const capped = { ...NO_REPLICATION, 'bandwidth.upload': 8 * MiB }
    a = await startNode({ name: 'eg-a', settings: capped })
    const boot = [a.addresses[0]!]
    ;[b, r] = await Promise.all([startNode({ name: 'eg-b', bootstrap: boot, settings: capped }), startNode({ name: 'eg-r', bootstrap: boot, settings: NO_REPLICATION })])
    await writeFile(join(a.layout.dataDir, 'tail.bin'), data)
    await writeFile(join(b.layout.dataDir, 'tail.bin'), data)
    await waitFor('both holders announced', () => r.view.holders(sha).length === 2, 30_000)
  }, 60_000)

  afterAll(async () => stopAll([a, b, r]))

  it('lands from both, fetching at most two chunks twice', async () => {
    await r.fetch(sha)
    const done = r.events.list({ types: ['sync_completed'] }).find((e) => e.sha256 === sha)
    expect(done?.data?.checksumVerified).toBe(true)
    expect([...((done?.data?.sources as string[] | undefined) ?? [])].sort()).toEqual([a.peerId, b.peerId].sort())
    expect(done?.data?.bytesReceived as number).toBeLessThanOrEqual(SIZE + 2 * MiB)
  }, 60_000)
})
