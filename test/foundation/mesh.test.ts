import { writeFile, mkdir, copyFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import type { FileJson, PeerJson } from '../../src/node/read-models.js'
import { api, startCluster, stopAll, waitFor } from '../helpers/cluster.js'

import { FIXTURES } from '../helpers/fixtures.js'

describe('a cluster of real nodes over loopback', () => {
  let nodes: MeshsyncNode[] = []

  beforeAll(async () => {
    nodes = await startCluster(4)
  })
  afterAll(async () => {
    await stopAll(nodes)
  })

  it('finds every node through the DHT when each knows only the bootstrap node', async () => {
    for (const n of nodes) {
      await waitFor(`${n.config.node.name} to see 3 peers up`, async () => {
        const peers = await api<PeerJson[]>(n, '/peers')
        return peers.filter((p) => p.state === 'up').length === 3
      })
    }
    // node 3 was never told about node 1, only the bootstrap node: it found it
    const peers = await api<PeerJson[]>(nodes[3]!, '/peers')
    expect(peers.map((p) => p.peerId)).toContain(nodes[1]!.peerId)
    const status = await api<{ peerId: string; name: string; addresses: string[] }>(nodes[2]!, '/status')
    expect(status.peerId).toBe(nodes[2]!.peerId)
    expect(status.name).toBe('n2')
    expect(status.addresses.every((a) => a.endsWith(`/p2p/${nodes[2]!.peerId}`))).toBe(true)
  })

  it('carries health: disk, role, versions, manifest digest', async () => {
    const peers = await api<PeerJson[]>(nodes[0]!, '/peers')
    const p = peers.find((x) => x.peerId === nodes[1]!.peerId)!
    const h = p.health as { role: string; disk: { total: number; usedFraction: number }; version: string; manifest: { digest: string }; addrs: string[] }
    expect(h.role).toBe('worker')
    expect(h.disk.total).toBeGreaterThan(0)
    expect(h.version).toMatch(/^\d+\.\d+\.\d+/)
    expect(h.manifest.digest).toMatch(/^[0-9a-f]{64}$/)
    expect(h.addrs.length).toBeGreaterThan(0)
  })

  it('shows a file added on one node in every node’s /files within seconds', async () => {
    const started = Date.now()
    await mkdir(join(nodes[2]!.layout.dataDir, 'npz'), { recursive: true })
    await copyFile(join(FIXTURES, 'npz/hex8_2p.npz'), join(nodes[2]!.layout.dataDir, 'npz/hex8_2p.npz'))
    for (const n of nodes) {
      const f = await waitFor(`${n.config.node.name} to list npz/hex8_2p.npz`, async () => {
        const files = await api<FileJson[]>(n, '/files')
        return files.find((x) => x.path === 'npz/hex8_2p.npz' && x.holders.includes(nodes[2]!.peerId))
      })
      expect(f.kind).toBe('npz')
      expect(f.sha256).toMatch(/^[0-9a-f]{64}$/)
      expect(f.size).toBe(275332)
    }
    expect(Date.now() - started).toBeLessThan(10_000)
  })

  it('marks a stopped node suspect then down, and recovered when it returns', async () => {
    const victim = nodes[3]!
    const dataDir = victim.layout.dataDir
    const peerId = victim.peerId
    await victim.stop()
    await waitFor('victim down on n0', async () => (await api<PeerJson[]>(nodes[0]!, '/peers')).find((p) => p.peerId === peerId)?.state === 'down')
    const events = await api<{ type: string; peer?: string }[]>(nodes[0]!, '/events?type=peer_suspect,peer_down')
    expect(events.filter((e) => e.peer === peerId).map((e) => e.type)).toEqual(['peer_suspect', 'peer_down'])
    const { startNode } = await import('../helpers/cluster.js')
    nodes[3] = await startNode({ name: 'n3', dataDir, bootstrap: [nodes[0]!.addresses[0]!] })
    expect(nodes[3].peerId).toBe(peerId)
    await waitFor('victim up again on n0', async () => (await api<PeerJson[]>(nodes[0]!, '/peers')).find((p) => p.peerId === peerId)?.state === 'up')
    const recovered = await api<{ type: string; peer?: string }[]>(nodes[0]!, '/events?type=node_recovered')
    expect(recovered.some((e) => e.peer === peerId)).toBe(true)
  })

  it('serves metrics in Prometheus text', async () => {
    const res = await fetch(`http://${nodes[0]!.apiAddress}/metrics`)
    const text = await res.text()
    expect(res.headers.get('content-type')).toMatch(/text\/plain/)
    expect(text).toMatch(/meshsync_gossip_messages_total\{topic="health",result="accepted"\} \d+/)
  })

  it('answers unknown routes with a typed 404', async () => {
    const res = await fetch(`http://${nodes[0]!.apiAddress}/nope`)
    expect(res.status).toBe(404)
    expect(((await res.json()) as { code: string }).code).toBe('ERR_NOT_FOUND')
  })

  it('writes a file under a nested folder too', async () => {
    await writeFile(join(nodes[1]!.layout.dataDir, 'notes.txt'), 'hello')
    await waitFor('notes.txt on n0', async () => (await api<FileJson[]>(nodes[0]!, '/files?where=*.txt')).length === 1)
  })
})
