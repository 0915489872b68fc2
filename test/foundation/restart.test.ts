import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import type { FileJson } from '../../src/node/read-models.js'
import { api, startCluster, startNode, stopAll, waitFor } from '../helpers/cluster.js'

import { FIXTURES } from '../helpers/fixtures.js'

describe('restarts and catching up', () => {
  const nodes: MeshsyncNode[] = []
  afterAll(async () => {
    await stopAll(nodes)
  })

  it('keeps its peer ID and catalog across a restart without rehashing', async () => {
    const a = await startNode({ name: 'solo' })
    nodes.push(a)
    await copyFile(join(FIXTURES, 'sqlite/selfplay_hex8_2p.db'), join(a.layout.dataDir, 'games.db'))
    await writeFile(join(a.layout.dataDir, 'b.bin'), Buffer.alloc(3 * 1024 * 1024 + 1, 7))
    await waitFor('two files announced', () => a.manifest.count === 2)
    const peerId = a.peerId
    const before = [...a.manifest.all()].map((f) => [f.path, f.sha256]).sort()
    await a.stop()
    const b = await startNode({ name: 'solo', dataDir: a.layout.dataDir })
    nodes[0] = b
    expect(b.peerId).toBe(peerId)
    expect([...b.manifest.all()].map((f) => [f.path, f.sha256]).sort()).toEqual(before)
    await waitFor('first scan after restart', () => b.scanner.scans >= 1)
    expect(b.scanner.lastStats?.files).toBe(2)
    expect(b.scanner.lastStats?.hashed).toBe(0)
    // a changed file is rehashed, and only that one
    await writeFile(join(b.layout.dataDir, 'b.bin'), Buffer.alloc(10, 1))
    await waitFor('b.bin rehashed', () => b.manifest.get('b.bin')?.size === 10)
    expect(b.manifest.get('b.bin')?.version).toBe(2)
  })

  it('catches up through anti-entropy after being away while files changed', async () => {
    // replication off (one copy each): this is about anti-entropy; a replica of a's files on c (which a loaded
    // machine gave it before it stopped) would show in /files beside what c learnt from a
    const solo = { 'policies.solo.minCopies': 1, 'policies.solo.maxCopies': 1 }
    const cluster = await startCluster(3, solo, ['ae0', 'ae1', 'ae2'])
    nodes.push(...cluster)
    const [a, , c] = cluster as [MeshsyncNode, MeshsyncNode, MeshsyncNode]
    await mkdir(join(a.layout.dataDir, 'd'), { recursive: true })
    await writeFile(join(a.layout.dataDir, 'd/keep.txt'), 'keep')
    await writeFile(join(a.layout.dataDir, 'd/gone.txt'), 'gone')
    await waitFor('c sees a’s two files', async () => (await api<FileJson[]>(c, '/files?where=d/*')).length === 2)
    const cDir = c.layout.dataDir
    await c.stop()
    // while c is away: add 30 files, change one, remove one
    for (let i = 0; i < 30; i++) await writeFile(join(a.layout.dataDir, `d/new-${i}.txt`), `new ${i}`)
    await writeFile(join(a.layout.dataDir, 'd/keep.txt'), 'keep, changed')
    await rm(join(a.layout.dataDir, 'd/gone.txt'))
    await waitFor('a announced the changes', () => a.manifest.count === 31)
    const c2 = await startNode({ name: 'ae2', dataDir: cDir, bootstrap: [a.addresses[0]!], settings: solo })
    nodes[nodes.indexOf(c)] = c2
    await waitFor('c’s copy of a’s manifest matches a’s', () => {
      const p = c2.view.get(a.peerId)
      return p != null && p.manifestSeq === a.manifest.seq && c2.view.digestOf(p) === a.manifest.digest
    })
    expect(c2.gossip.stats.syncs).toBeGreaterThan(0)
    const files = await api<FileJson[]>(c2, '/files?where=d/*')
    expect(files.map((f) => f.path).sort()).toEqual(['d/keep.txt', ...Array.from({ length: 30 }, (_, i) => `d/new-${i}.txt`)].sort())
    expect(files.find((f) => f.path === 'd/keep.txt')?.size).toBe('keep, changed'.length)
  })
})
