import { randomBytes, createHash } from 'node:crypto'
import { readFile, writeFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { api, startCluster, stopAll, waitFor } from '../helpers/cluster.js'
import { localApiHeaders } from '../../src/api/key.js'

const MiB = 1024 * 1024
const SIZES = [0, 1, MiB - 1, MiB, MiB + 1, 5 * MiB + 12345]

describe('fetching a file over the blob protocol', () => {
  let nodes: MeshsyncNode[] = []
  beforeAll(async () => {
    nodes = await startCluster(2, {}, ['src', 'dst'])
  })
  afterAll(async () => {
    await stopAll(nodes)
  })

  it.each(SIZES)('moves a %i-byte file byte-identical', async (size) => {
    const [a, b] = nodes as [MeshsyncNode, MeshsyncNode]
    const data = randomBytes(size)
    const sha = createHash('sha256').update(data).digest('hex')
    await writeFile(join(a.layout.dataDir, `blob-${size}.bin`), data)
    await waitFor('announced and known to b', () => b.view.holders(sha).includes(a.peerId))
    const landed = await b.fetch(sha, { signal: AbortSignal.timeout(30_000) })
    expect(landed.path).toBe(`blob-${size}.bin`)
    const got = await readFile(join(b.layout.dataDir, landed.path))
    expect(got.equals(data)).toBe(true)
    // staging is empty again, and the catalog has it without a rehash
    expect(await readdir(b.layout.staging)).toEqual([])
    expect(b.manifest.get(landed.path)?.sha256).toBe(sha)
    const events = await api<{ type: string; sha256?: string; data?: { checksumVerified?: boolean } }[]>(b, '/events?type=sync_completed')
    expect(events.find((e) => e.sha256 === sha)?.data?.checksumVerified).toBe(true)
  })

  it('answers a typed error for a hash nobody holds, and the server stays up', async () => {
    const [, b] = nodes as [MeshsyncNode, MeshsyncNode]
    const res = await fetch(`http://${b.apiAddress}/fetch`, { method: 'POST', headers: localApiHeaders(b.apiAddress!), body: JSON.stringify({ sha256: 'ab'.repeat(32) }) })
    expect(res.status).toBe(404)
    const bad = await fetch(`http://${b.apiAddress}/fetch`, { method: 'POST', headers: localApiHeaders(b.apiAddress!), body: JSON.stringify({ sha256: '../etc' }) })
    expect(bad.status).toBe(400)
    await waitFor('still serving', async () => (await api<{ peerId: string }>(b, '/status')).peerId === b.peerId)
  })
})
