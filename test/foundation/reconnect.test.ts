import { afterAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'

/**
 * A node that restarts after its bootstrap host died finds the cluster again
 * through the peers it knew (their addresses are kept in its state database),
 * not only through the bootstrap list.
 */
describe('reconnect', () => {
  const nodes: (MeshsyncNode | undefined)[] = []
  afterAll(async () => stopAll(nodes))

  it('a restarted node whose bootstrap host is gone rejoins through the peers it knew', async () => {
    const boot = await startNode({ name: 'rc-boot' })
    nodes.push(boot)
    const addr = [boot.addresses[0]!]
    const a = await startNode({ name: 'rc-a', bootstrap: addr })
    const b = await startNode({ name: 'rc-b', bootstrap: addr })
    nodes.push(a, b)
    await waitFor('a sees b up', () => a.view.get(b.peerId)?.state === 'up', 30_000)
    // the premise: b has heard a's health (with its addresses) before it goes; without this the test raced
    // b's first health from a under load and failed with "b2 knows a as undefined"
    await waitFor('b knows a and its addresses', () => b.view.get(a.peerId)?.state === 'up' && (b.view.get(a.peerId)?.health?.addrs.length ?? 0) > 0, 30_000)
    const bDir = b.layout.dataDir
    const bId = b.peerId
    await b.stop()
    await boot.stop()
    nodes.splice(nodes.indexOf(boot), 1, undefined)
    // b comes back with only the dead bootstrap host in its list
    const b2 = await startNode({ name: 'rc-b', dataDir: bDir, bootstrap: addr })
    nodes.splice(nodes.indexOf(b), 1, b2)
    expect(b2.peerId).toBe(bId)
    await waitFor('b2 connected to a again', () => b2.mesh.getPeers().some((p) => p.toString() === a.peerId), 30_000).catch((err) => {
      const aFacts = b2.view.get(a.peerId)
      throw new Error(
        `${(err as Error).message}; b2 knows a as ${aFacts?.state} at ${JSON.stringify(aFacts?.health?.addrs)}; b2 connected to ${JSON.stringify(b2.mesh.getPeers().map(String))}; a connected to ${JSON.stringify(a.mesh.getPeers().map(String))}`,
      )
    })
    await waitFor('a sees b2 up again', () => a.view.get(b2.peerId)?.state === 'up', 30_000)
  }, 90_000)
})
