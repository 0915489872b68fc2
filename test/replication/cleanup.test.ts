import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { eventsOf, holdersOnDisk, REPLICATION_FAST, writeRandom } from './support.js'

const MiB = 1024 * 1024

/**
 * A node whose disk (a 5 MiB quota) crosses 75% frees space by deleting
 * files, but only each one after two other live holders signed that they
 * re-hashed their copy. A file nobody else may hold (a policy excludes every
 * other host) is never deleted, however full the disk.
 */
describe('cleanup at the 75% threshold, 4 real nodes', () => {
  let nodes: MeshsyncNode[] = []
  let x: MeshsyncNode
  const policies = {
    pinned: { match: { globs: ['pinned/**'] }, minCopies: 1, maxCopies: 1, excludeHosts: ['a', 'b', 'c'] },
    data: { minCopies: 2, maxCopies: 3 },
  }

  beforeAll(async () => {
    const settings = { ...REPLICATION_FAST, policies, 'node.role': 'storage' }
    x = await startNode({ name: 'x', settings: { ...settings, 'disk.quota': 5 * MiB } })
    const boot = [x.addresses[0]!]
    const rest = await Promise.all(['a', 'b', 'c'].map((name) => startNode({ name, bootstrap: boot, settings })))
    nodes = [x, ...rest]
    await waitFor('all up', () => nodes.every((n) => n.view.peers().filter((p) => p.state === 'up').length === 3), 30_000)
  }, 60_000)

  afterAll(async () => stopAll(nodes))

  it('deletes only with 2 attested copies elsewhere, never the pinned file, and never goes below 2 copies', async () => {
    const shas: string[] = []
    for (let i = 0; i < 3; i++) shas.push(await writeRandom(x, `data/part-${i}.dat`, MiB))
    const pinned = await writeRandom(x, 'pinned/only-here.dat', MiB)
    await waitFor('x catalogs its 4 files', async () => {
      await x.rescan()
      return x.manifest.count === 4
    })

    // all through the run: a file gone from x has at least 2 copies elsewhere
    const violations: string[] = []
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        for (const sha of shas) {
          const holders = await holdersOnDisk(nodes, sha)
          if (!holders.includes('x') && holders.length < 2) violations.push(`${sha.slice(0, 8)} only on ${holders.join(',') || 'nobody'}`)
        }
        await new Promise((r) => setTimeout(r, 50))
      }
    })()

    const deleted = await waitFor('x deleted a file and left the cleanup level', () => {
      const d = eventsOf(x, 'file_deleted')
      return d.length > 0 && x.diskLevel !== 'full' ? d : undefined
    }, 60_000)
    sampling = false
    await sampler
    expect(violations).toEqual([])

    for (const ev of deleted) {
      const attestedBy = ev.data?.attestedBy as string[]
      expect(new Set(attestedBy).size).toBeGreaterThanOrEqual(2)
      expect(attestedBy).not.toContain(x.peerId)
      // the attesters really hold it, re-hashed from their disks now
      const onDisk = await holdersOnDisk(nodes, ev.sha256!)
      const names = attestedBy.map((p) => x.view.get(p)?.name)
      for (const n of names) expect(onDisk).toContain(n)
      expect(onDisk).not.toContain('x')
    }
    // the pinned file cannot have copies elsewhere: it stays
    expect(await holdersOnDisk(nodes, pinned)).toEqual(['x'])
    expect(eventsOf(x, 'file_deleted').some((e) => e.sha256 === pinned)).toBe(false)
    // nobody pushed into x while it was full: it pulled nothing
    expect(eventsOf(x, 'sync_started')).toEqual([])
    for (const sha of shas) expect((await holdersOnDisk(nodes, sha)).length).toBeGreaterThanOrEqual(2)
    expect(x.cleanup.stats.bytesFreed).toBeGreaterThanOrEqual(MiB)
  }, 90_000)

  it('an attestation is refused for a file the node does not hold, and for one it is deleting itself', async () => {
    const a = nodes.find((n) => n.config.node.name === 'a')!
    const sha = 'ab'.repeat(32)
    const attest = a.mesh.services.attest as import('../../protocols/attest/index.js').AttestService
    const { peerIdFromString } = await import('@libp2p/peer-id')
    await expect(attest.request(peerIdFromString(x.peerId), sha, 1, { signal: AbortSignal.timeout(5000), now: () => Date.now() })).rejects.toThrow(/NOT_HELD|not attest/)
    // x is deleting one of its files: it refuses to attest that one
    const held = [...x.manifest.all()][0]!
    expect(x.guard.begin(held.sha256)).toBe(true)
    try {
      await expect(attest.request(peerIdFromString(x.peerId), held.sha256, held.size, { signal: AbortSignal.timeout(5000), now: () => Date.now() })).rejects.toThrow(/REFUSED|not attest/)
    } finally {
      x.guard.end(held.sha256)
    }
    // and attests it once it is not
    const ok = await attest.request(peerIdFromString(x.peerId), held.sha256, held.size, { signal: AbortSignal.timeout(5000), now: () => Date.now() })
    expect(ok.peer).toBe(x.peerId)
    // which grants a lease: x may not start deleting it now
    expect(x.guard.begin(held.sha256)).toBe(false)
  }, 30_000)
})
