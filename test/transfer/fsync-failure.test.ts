import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import type { MeshsyncEvent } from '../../src/state/event-log.js'
import { api, startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { BT_TEST, knownWithTorrent, MiB, randomFile, sha256File } from '../bittorrent/support.js'

/**
 * A staging file whose fsync fails (EIO: a failing disk) must not be landed,
 * nor resumed from: after a failed fsync the page cache can show bytes that
 * never reached the disk (PostgreSQL's "fsyncgate"). The transfer fails with
 * ERR_FSYNC, its staging file and chunk map go, and the retry fetches every
 * byte again. A real EIO cannot be had here without a failing device, so
 * the receiver's first staging fsync is made to fail (debug.failStagingFsyncs);
 * everything else is real.
 */
const SIZE = 6 * MiB
const SETTINGS = { ...BT_TEST, 'bittorrent.preferredSize': 4 * MiB, 'transfer.backoffBaseSeconds': 0.2, 'transfer.backoffMaxSeconds': 1 }

describe('a staging file whose fsync fails', () => {
  const nodes: MeshsyncNode[] = []
  afterAll(async () => stopAll(nodes))

  const events = async (n: MeshsyncNode, type: string, sha: string): Promise<MeshsyncEvent[]> =>
    (await api<MeshsyncEvent[]>(n, `/events?type=${type}`)).filter((e) => e.sha256 === sha)

  it.each([
    ['libp2p', {}],
    ['bittorrent', { 'debug.libp2pFetch': false }],
  ] as const)('over %s: is dropped, and the retry fetches every byte again', async (via, extra) => {
    const src = await startNode({ name: `fs-src-${via}`, settings: SETTINGS })
    const dst = await startNode({ name: `fs-dst-${via}`, bootstrap: [src.addresses[0]!], settings: { ...SETTINGS, ...extra, 'debug.failStagingFsyncs': 1 } })
    nodes.push(src, dst)
    const sha = await randomFile(join(src.layout.dataDir, 'f.bin'), SIZE)
    if (via === 'bittorrent') await knownWithTorrent(dst, sha, [src])
    else await waitFor('dst knows the file', () => dst.view.holders(sha).includes(src.peerId), 30_000)

    await dst.fetch(sha, { signal: AbortSignal.timeout(60_000) })
    expect(await sha256File(join(dst.layout.dataDir, 'f.bin'))).toBe(sha)
    const failed = await events(dst, 'sync_failed', sha)
    expect(failed).toHaveLength(1)
    expect(failed[0]?.data).toMatchObject({ code: 'ERR_FSYNC', final: false })
    expect(failed[0]?.data?.reason).toMatch(/fsync of .* failed \(EIO/)
    const done = (await events(dst, 'sync_completed', sha))[0]
    expect(done?.data).toMatchObject({ via, checksumVerified: true })
    // nothing was resumed from the staging file whose fsync failed: every byte came over the wire again
    expect(done?.data?.resumedChunks ?? 0).toBe(0)
    expect(done?.data?.bytesReceived as number).toBeGreaterThanOrEqual(SIZE)
  })
})
