import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { AddressBook } from '../../src/mesh/address-book.js'
import type { MeshsyncNode } from '../../src/node.js'
import { silentLogger } from '../../src/util/log.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'

/**
 * A dial by peer ID (manifest sync, transfers) needs the peer's addresses in
 * libp2p's peer store. Health gossip carries them; the address book puts them
 * there, so a peer that restarted on a new port is reached without a DHT lookup.
 */
describe('address book', () => {
  const nodes: MeshsyncNode[] = []
  afterAll(async () => stopAll(nodes))

  it('lets a node pull the manifest of a peer it has never been connected to, from the addresses in its health', async () => {
    // two nodes that know nothing of each other: no bootstrap, no DHT peers
    const a = await startNode({ name: 'ab-a' })
    const b = await startNode({ name: 'ab-b' })
    nodes.push(a, b)
    await writeFile(join(b.layout.dataDir, 'games.txt'), 'one game\n')
    const held = await waitFor('b catalogs its file', () => b.manifest.get('games.txt'))
    expect(a.mesh.getPeers()).toEqual([])
    await expect(a.gossip.syncPeer(b.peerId, AbortSignal.timeout(5000))).rejects.toThrow()

    // what b's health says of its addresses (without the /p2p suffix), as gossip would hand it over
    const addrs = b.addresses.map((m) => m.replace(/\/p2p\/[^/]+$/, ''))
    const book = new AddressBook(a.mesh, silentLogger)
    book.learn(b.peerId, addrs)
    await expect.poll(async () => (await a.mesh.peerStore.get(b.mesh.peerId)).addresses.length, { timeout: 5000 }).toBeGreaterThan(0)
    await a.gossip.syncPeer(b.peerId, AbortSignal.timeout(10_000))
    expect(a.view.get(b.peerId)?.manifestSeq).toBe(b.manifest.seq)
    expect(a.view.holders(held.sha256)).toEqual([b.peerId])
  })
})
