import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { writeSwarmKey } from '../../bootstrap/swarm-key.js'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { REPLICATION_FAST, sha256Of } from '../replication/support.js'

const MiB = 1024 * 1024
const nodes: MeshsyncNode[] = []
let dir = ''

afterAll(async () => {
  await stopAll(nodes)
  if (dir !== '') await rm(dir, { recursive: true, force: true })
})

describe('a private-network connection whose cipher fails', () => {
  it('is closed and counted; the node stays up and the transfer lands verified over a new connection', async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshsync-pnet-fail-'))
    const key = join(dir, 'swarm.key')
    await writeSwarmKey(key)
    // libp2p only: the bytes must cross the pnet connection (not the TLS lane) and a retry has to come over a
    // new libp2p connection, not the BitTorrent fallback
    const common = { swarmKey: key, ...REPLICATION_FAST, 'bittorrent.enabled': false, 'transfer.lane': 'off' }
    const src = await startNode({ name: 'pf-src', settings: common })
    nodes.push(src)
    // the receiver's first connections break mid-transfer: their cipher throws on received data after 1 MiB
    const dst = await startNode({ name: 'pf-dst', bootstrap: [src.addresses[0]!], settings: { ...common, 'debug.failPnetConnections': 2 } })
    nodes.push(dst)
    const data = randomBytes(24 * MiB + 7)
    const sha = sha256Of(data)
    await writeFile(join(src.layout.dataDir, 'run-1.dat'), data)
    await waitFor('announced and known to dst', () => dst.view.holders(sha).includes(src.peerId), 30_000)

    const landed = await waitFor(
      'the file to land on dst',
      async () => (await dst.fetch(sha, { signal: AbortSignal.timeout(30_000) }).catch(() => undefined)) ?? undefined,
      90_000,
      500,
    )
    expect((await readFile(join(dst.layout.dataDir, landed.path))).equals(data)).toBe(true)
    const failed = (await dst.metrics.connectionsFailed.get()).values[0]?.value ?? 0
    expect(failed).toBeGreaterThanOrEqual(1)
    // both nodes still up, and connected again
    expect(src.mesh.status).toBe('started')
    expect(dst.mesh.status).toBe('started')
    await waitFor('src and dst connected again', () => src.mesh.getConnections().some((c) => c.remotePeer.toString() === dst.peerId), 30_000)
  }, 150_000)
})
