import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeSwarmKey } from '../../bootstrap/swarm-key.js'
import { encodeHealth, HEALTH_TOPIC } from '../../protocols/health/index.js'
import { encodeDelta, MANIFEST_TOPIC, type ManifestEntry } from '../../protocols/manifest/index.js'
import { FileEntry, FileKind, ManifestDelta } from '../../protocols/manifest/manifest.pb.js'
import { PeerGater } from '../../src/mesh/gater.js'
import { createMesh, pubsubOf, type Mesh, type Pubsub } from '../../src/mesh/libp2p.js'
import type { MeshsyncNode } from '../../src/node.js'
import type { PeerJson } from '../../src/node/read-models.js'
import { api, startNode, stopAll, waitFor } from '../helpers/cluster.js'

/** A bare libp2p node speaking our topics, to send what a real node never would. */
async function rawPeer(bootstrap: string): Promise<Mesh> {
  const mesh = await createMesh(
    {
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      announce: [],
      bootstrap: [],
      gater: new PeerGater([]),
      protocolPrefix: '/meshsync',
      lan: true,
      localCluster: true,
      maxConnections: 10,
    },
    {},
  )
  await mesh.start()
  await mesh.dial(multiaddr(bootstrap))
  const pubsub = pubsubOf(mesh)
  pubsub.subscribe(MANIFEST_TOPIC)
  pubsub.subscribe(HEALTH_TOPIC)
  return mesh
}

const entry = (path: string): ManifestEntry => ({
  path,
  sha256: 'ab'.repeat(32),
  size: 10,
  kind: 'other',
  origin: '12D3KooWArc69W99vjJaMSX9ooWorEeEPGkWfp2zToNjANUAw9Qw',
  version: 1,
  mtimeMs: 1,
  chunkRoot: 'cd'.repeat(32),
  promoted: false,
})

describe('hostile and malformed gossip', () => {
  let node: MeshsyncNode
  let raw: Mesh
  let pubsub: Pubsub

  beforeAll(async () => {
    node = await startNode({ name: 'target' })
    raw = await rawPeer(node.addresses[0]!)
    pubsub = pubsubOf(raw)
    await waitFor('raw peer in the gossip mesh', () => pubsub.getSubscribers(MANIFEST_TOPIC).length > 0 && pubsub.getMeshPeers(MANIFEST_TOPIC).length > 0)
  })
  afterAll(async () => {
    await raw?.stop()
    await stopAll([node])
  })

  const rawId = () => raw.peerId.toString()
  const invalidEvents = async () => (await api<{ peer?: string; data?: { reason: string } }[]>(node, '/events?type=invalid_message')).filter((e) => e.peer === rawId())

  it('rejects garbage, oversized, traversing and malformed messages and counts them', async () => {
    const before = node.gossip.stats.invalid
    await pubsub.publish(MANIFEST_TOPIC, new Uint8Array([0xff, 0xff, 0xff, 0x01, 0x02]))
    await pubsub.publish(HEALTH_TOPIC, new Uint8Array(20 * 1024))
    await pubsub.publish(MANIFEST_TOPIC, new Uint8Array(1024 * 1024 + 10))
    for (const bad of ['../../etc/passwd', '/etc/passwd', 'a/../b', 'a\\b', 'a\u0000b', '.meshsync/identity.key', 'a//b']) {
      // built with the raw codec: our encoder would never produce these
      await pubsub.publish(MANIFEST_TOPIC, ManifestDelta.encode({ seq: 1, prevSeq: 0, timeMs: 1, upserts: [{ ...FileEntry.decode(FileEntry.encode({ path: 'x', sha256: new Uint8Array(32), size: 1, kind: FileKind.OTHER, origin: entry('x').origin, version: 1, mtimeMs: 1, chunkRoot: new Uint8Array(32), promoted: false })), path: bad }], removed: [] }))
    }
    await pubsub.publish(MANIFEST_TOPIC, ManifestDelta.encode({ seq: 1, prevSeq: 0, timeMs: 1, upserts: [{ path: 'short-hash', sha256: new Uint8Array(5), size: 1, kind: FileKind.OTHER, origin: entry('x').origin, version: 1, mtimeMs: 1, chunkRoot: new Uint8Array(32), promoted: false }], removed: [] }))
    const expected = 2 + 1 + 7 + 1
    await waitFor(`${expected} invalid messages counted`, () => node.gossip.stats.invalid - before >= expected)
    const reasons = (await invalidEvents()).map((e) => e.data?.reason ?? '')
    expect(reasons.some((r) => r.includes("'..' in path"))).toBe(true)
    expect(reasons.some((r) => r.includes('absolute path'))).toBe(true)
    expect(reasons.some((r) => r.includes('over 1048576') || r.includes('over 16384'))).toBe(true)
    expect(reasons.some((r) => r.includes('sha256 must be 32 bytes'))).toBe(true)
    expect(node.view.get(rawId())?.entries.size ?? 0).toBe(0)
    // the node is fine
    const status = await api<{ peerId: string }>(node, '/status')
    expect(status.peerId).toBe(node.peerId)
  })

  it('applies a good delta once and ignores replayed and stale ones', async () => {
    const staleBefore = node.gossip.stats.stale
    await pubsub.publish(MANIFEST_TOPIC, encodeDelta({ seq: 5, prevSeq: 0, timeMs: 1, upserts: [entry('good.txt')], removed: [] }))
    await waitFor('good delta applied', () => node.view.get(rawId())?.entries.has('good.txt'))
    // same seq again (new bytes so gossipsub does not dedupe it), and an older one
    await pubsub.publish(MANIFEST_TOPIC, encodeDelta({ seq: 5, prevSeq: 0, timeMs: 2, upserts: [entry('replayed.txt')], removed: [] }))
    await pubsub.publish(MANIFEST_TOPIC, encodeDelta({ seq: 3, prevSeq: 2, timeMs: 3, upserts: [entry('stale.txt')], removed: [] }))
    await waitFor('2 stale messages counted', () => node.gossip.stats.stale - staleBefore >= 2)
    const entries = node.view.get(rawId())!.entries
    expect([...entries.keys()]).toEqual(['good.txt'])
    expect(node.view.get(rawId())!.manifestSeq).toBe(5)
  })

  it('ignores a replayed health message', async () => {
    const h = {
      seq: 100, timeMs: 1, name: 'raw', role: 'worker', provider: 'x', tags: [], ephemeral: false,
      disk: { total: 100, free: 50, usedFraction: 0.5, level: 'push' as const }, load: 0.1, accepting: true, version: '0', uptimeMs: 1,
      addrs: [], btPort: 0, transports: [], manifest: { seq: 5, digest: '00'.repeat(32), count: 1 }, evacuating: false, evacuateDeadlineMs: 0, downloading: [], transfersActive: 0,
    }
    await pubsub.publish(HEALTH_TOPIC, encodeHealth(h))
    await waitFor('health applied', () => node.view.get(rawId())?.healthSeq === 100)
    const staleBefore = node.gossip.stats.stale
    await pubsub.publish(HEALTH_TOPIC, encodeHealth({ ...h, seq: 99, name: 'older' }))
    await waitFor('stale health counted', () => node.gossip.stats.stale > staleBefore)
    expect(node.view.get(rawId())?.name).toBe('raw')
  })
})

describe('private network and allowlist', () => {
  const nodes: MeshsyncNode[] = []
  afterAll(async () => {
    await stopAll(nodes)
  })

  it('keeps a node without the swarm key out', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshsync-psk-'))
    const key = join(dir, 'swarm.key')
    const other = join(dir, 'other.key')
    await writeSwarmKey(key)
    await writeSwarmKey(other)
    const a = await startNode({ name: 'psk-a', settings: { swarmKey: key } })
    nodes.push(a)
    const b = await startNode({ name: 'psk-b', bootstrap: [a.addresses[0]!], settings: { swarmKey: key } })
    nodes.push(b)
    const outsider = await startNode({ name: 'psk-none', bootstrap: [a.addresses[0]!] })
    nodes.push(outsider)
    const wrongKey = await startNode({ name: 'psk-wrong', bootstrap: [a.addresses[0]!], settings: { swarmKey: other } })
    nodes.push(wrongKey)
    await waitFor('a and b see each other', async () => (await api<PeerJson[]>(a, '/peers')).some((p) => p.peerId === b.peerId && p.state === 'up'))
    // give the outsiders time to try
    await new Promise((r) => setTimeout(r, 2500))
    for (const n of [outsider, wrongKey]) {
      expect(n.mesh.getPeers()).toHaveLength(0)
      expect(await api<PeerJson[]>(n, '/peers')).toHaveLength(0)
    }
    const seen = (await api<PeerJson[]>(a, '/peers')).map((p) => p.peerId)
    expect(seen).not.toContain(outsider.peerId)
    expect(seen).not.toContain(wrongKey.peerId)
  })

  it('lets only allowlisted peer IDs connect', async () => {
    const a = await startNode({ name: 'allow-a' })
    nodes.push(a)
    const b = await startNode({ name: 'allow-b', bootstrap: [a.addresses[0]!], settings: { allowPeers: [a.peerId] } })
    nodes.push(b)
    // c is not on b's list: b refuses it even though both know a
    const c = await startNode({ name: 'allow-c', bootstrap: [a.addresses[0]!] })
    nodes.push(c)
    await waitFor('a sees b and c', async () => (await api<PeerJson[]>(a, '/peers')).filter((p) => p.state === 'up').length === 2)
    await new Promise((r) => setTimeout(r, 1500))
    expect(b.mesh.getPeers().map(String)).toEqual([a.peerId])
    expect(b.gater.refused).toBeGreaterThan(0)
  })
})
