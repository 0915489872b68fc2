import { peerIdFromString } from '@libp2p/peer-id'
import { afterAll, describe, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { startCluster, stopAll, waitFor } from '../helpers/cluster.js'

/**
 * After a partition heals, the two sides find each other again even though
 * each side has enough connections of its own (so nothing else would dial
 * across): the reconnect loop redials peers it sees down.
 */
describe('partition heal', () => {
  let nodes: MeshsyncNode[] = []
  afterAll(async () => stopAll(nodes))

  it('two halves that each stay connected inside re-join when the partition heals', async () => {
    nodes = await startCluster(8, {}, ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7'])
    await waitFor('everyone sees everyone up', () => nodes.every((n) => n.view.peers().filter((p) => p.state === 'up').length === 7), 30_000)
    const left = nodes.slice(0, 4)
    const right = nodes.slice(4)
    const cut = async (a: MeshsyncNode[], b: MeshsyncNode[]) => {
      for (const n of a) {
        n.gater.block(b.map((x) => x.peerId))
        for (const x of b) await n.mesh.hangUp(peerIdFromString(x.peerId)).catch(() => {})
      }
    }
    await cut(left, right)
    await cut(right, left)
    await waitFor('each side sees the other down', () => left.every((n) => right.every((x) => n.view.get(x.peerId)?.state === 'down')), 30_000)
    for (const n of nodes) n.gater.unblock()
    await waitFor('everyone sees everyone up again', () => nodes.every((n) => n.view.peers().filter((p) => p.state === 'up').length === 7), 45_000)
  }, 120_000)
})
