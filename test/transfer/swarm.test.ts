import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BlobServer } from '../../protocols/blob/index.js'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { NO_REPLICATION, sha256Of } from './support.js'

const MiB = 1024 * 1024

/**
 * Serving while downloading (SPEC "Serving while downloading"): a node still
 * fetching a file serves the chunks it has verified, and a second receiver
 * uses it as a partial source, polling its bitfield.
 */
describe('a partial holder serves the chunks it has', () => {
  let seed: MeshsyncNode
  let partial: MeshsyncNode
  let late: MeshsyncNode
  beforeAll(async () => {
    // the only complete holder is slow, so the first receiver is a partial holder for a while
    seed = await startNode({ name: 'sw-seed', settings: { ...NO_REPLICATION, 'bandwidth.upload': 4 * MiB } })
    const boot = [seed.addresses[0]!]
    ;[partial, late] = await Promise.all([
      startNode({ name: 'sw-partial', bootstrap: boot, settings: NO_REPLICATION }),
      startNode({ name: 'sw-late', bootstrap: boot, settings: NO_REPLICATION }),
    ])
    await waitFor('everyone up', () => [seed, partial].every((n) => late.view.get(n.peerId)?.state === 'up') && partial.view.get(seed.peerId)?.state === 'up')
  })
  afterAll(async () => {
    await stopAll([seed, partial, late])
  })

  it('a late receiver gets chunks from a node that is itself still downloading', async () => {
    const data = randomBytes(8 * MiB + 99)
    const sha = sha256Of(data)
    await writeFile(join(seed.layout.dataDir, 'big.bin'), data)
    await waitFor('announced', () => partial.view.holders(sha).includes(seed.peerId) && late.view.holders(sha).includes(seed.peerId))

    const first = partial.fetch(sha, { signal: AbortSignal.timeout(60_000) })
    // the late receiver starts once the partial holder has some chunks and says (in its health) that it is downloading
    await waitFor('the partial holder to have a few chunks', () => (partial.transfers.progress(sha)?.chunksDone ?? 0) >= 3, 30_000, 20)
    await waitFor('the late receiver to know it', () => late.view.get(partial.peerId)?.health?.downloading.includes(sha) === true, 10_000, 20)
    const second = late.fetch(sha, { signal: AbortSignal.timeout(60_000) })
    const [a, b] = await Promise.all([first, second])
    expect((await readFile(join(partial.layout.dataDir, a.path))).equals(data)).toBe(true)
    expect((await readFile(join(late.layout.dataDir, b.path))).equals(data)).toBe(true)

    // the partial holder really served verified chunks to the late one
    expect((partial.mesh.services.blobServer as BlobServer).stats.chunks).toBeGreaterThan(0)
    const done = late.events.list({ types: ['sync_completed'] }).find((e) => e.sha256 === sha)
    expect(done?.data?.sources).toContain(partial.peerId)
    expect(late.events.list({ types: ['chunk_rejected'] })).toEqual([])
  })
})
