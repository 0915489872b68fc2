import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import type { QuarantineRecord } from '../../src/quarantine/quarantine.js'
import { api, startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { holdersOnDisk, REPLICATION_FAST, sha256Of } from './support.js'

/**
 * Silent corruption: a file's bytes change on disk while its size, mtime and
 * inode do not (a bad disk, a stray write that kept the mtime). The scanner
 * cannot see it; the scrub re-hashes every file in turn. The rotten copy goes
 * to quarantine and leaves the manifest, the cluster counts one copy less and
 * placement brings a good copy back from the other holder.
 */
describe('scrub', () => {
  const nodes: MeshsyncNode[] = []
  afterAll(async () => stopAll(nodes))

  it('finds a file that rotted under an unchanged stat, quarantines it, and the cluster repairs the copy', async () => {
    const a = await startNode({ name: 'scrub-a', settings: REPLICATION_FAST })
    const b = await startNode({ name: 'scrub-b', bootstrap: [a.addresses[0]!], settings: REPLICATION_FAST })
    nodes.push(a, b)
    await waitFor('both up', () => a.view.get(b.peerId)?.state === 'up' && b.view.get(a.peerId)?.state === 'up', 30_000)

    // written with a whole-second mtime (so it can be put back exactly), under a name the scanner skips, then moved in place
    const bytes = randomBytes(2 * 1024 * 1024 + 5)
    const sha = sha256Of(bytes)
    const path = join(a.layout.dataDir, 'games', 'g.bin')
    const tmp = join(a.layout.dataDir, 'g.bin.tmp')
    await writeFile(tmp, bytes)
    const when = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000)
    await utimes(tmp, when, when)
    await mkdir(join(a.layout.dataDir, 'games'), { recursive: true })
    await rename(tmp, path)
    await waitFor('2 copies', async () => (await holdersOnDisk(nodes, sha)).length === 2, 30_000)

    // one byte flipped in place, the mtime put back: size, mtime and inode as cataloged
    const fh = await open(path, 'r+')
    await fh.write(Buffer.from([bytes[1000]! ^ 0xff]), 0, 1, 1000)
    await fh.close()
    await utimes(path, when, when)
    await a.rescan()
    expect(a.manifest.get('games/g.bin')?.sha256).toBe(sha) // the scanner does not see it

    await a.scrubber.runOnce()
    expect(a.scrubber.stats.rotten).toBe(1)
    const q = (await api<QuarantineRecord[]>(a, '/quarantine')).find((r) => r.expectedSha256 === sha)
    expect(q).toMatchObject({ path: 'games/g.bin', foundAt: 'source' })
    expect(q?.reason).toMatch(/scrub/)
    expect(q?.sha256).not.toBe(sha)

    // one good copy left (b); placement wants two on a two-node cluster, so a pulls it back
    await waitFor('a holds a good copy again', async () => a.manifest.bySha(sha).length === 1, 30_000)
    const back = a.manifest.bySha(sha)[0]!
    expect(sha256Of(await readFile(join(a.layout.dataDir, back.path)))).toBe(sha)
    // and the next scrub finds nothing
    await a.scrubber.runOnce()
    expect(a.scrubber.stats.rotten).toBe(1)
  }, 90_000)
})
