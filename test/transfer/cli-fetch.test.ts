import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { CLI_JS, copyFixtures, dataFiles, meshsync, NO_REPLICATION, sha256Of, sha256OfFile } from './support.js'

/**
 * The command-line contract of `meshsync fetch <sha256> --api HOST:PORT
 * [--from PEER] [--json]`, run as the compiled bin/meshsync (build first):
 * exit 0 once the file has landed, non-zero with the reason otherwise.
 */

describe('meshsync fetch (CLI)', () => {
  let src: MeshsyncNode
  let dst: MeshsyncNode
  const data = randomBytes(3 * 1024 * 1024 + 17)
  const sha = sha256Of(data)
  const other = randomBytes(100_000)
  const otherSha = sha256Of(other)
  let badSha = ''

  beforeAll(async () => {
    if (!existsSync(CLI_JS)) throw new Error(`${CLI_JS} is missing: run tools/node24 npm run build first`)
    src = await startNode({ name: 'cli-src', settings: { ...NO_REPLICATION, 'catalog.validateLocal': false } })
    dst = await startNode({ name: 'cli-dst', bootstrap: [src.addresses[0]!], settings: NO_REPLICATION })
    await writeFile(join(src.layout.dataDir, 'weights.bin'), data)
    await writeFile(join(src.layout.dataDir, 'other.bin'), other)
    await copyFixtures(src.layout.dataDir, ['npz/bitflip.npz'])
    badSha = await sha256OfFile(join(src.layout.dataDir, 'npz/bitflip.npz'))
    await waitFor('the source up and its files known to the receiver', () => {
      return dst.view.get(src.peerId)?.state === 'up' && [sha, otherSha, badSha].every((s) => dst.view.holders(s).includes(src.peerId))
    })
  })
  afterAll(async () => {
    await stopAll([src, dst])
  })

  it('exits 0 with JSON once the file has landed, byte-identical', async () => {
    const r = await meshsync(['fetch', sha, '--api', dst.apiAddress!, '--json'])
    expect(r, r.stderr).toMatchObject({ code: 0 })
    expect(JSON.parse(r.stdout)).toEqual({ sha256: sha, state: 'landed', path: 'weights.bin', size: data.byteLength })
    expect((await readFile(join(dst.layout.dataDir, 'weights.bin'))).equals(data)).toBe(true)
    // asked again, it is already there
    const again = await meshsync(['fetch', sha, '--api', dst.apiAddress!, '--json'])
    expect(again.code).toBe(0)
    expect(JSON.parse(again.stdout)).toMatchObject({ sha256: sha, state: 'landed' })
  })

  it('--from a peer that holds it: exits 0', async () => {
    const r = await meshsync(['fetch', otherSha, '--api', dst.apiAddress!, '--from', src.peerId, '--json'])
    expect(r, r.stderr).toMatchObject({ code: 0 })
    expect(JSON.parse(r.stdout)).toMatchObject({ sha256: otherSha, state: 'landed', path: 'other.bin' })
  })

  it('an unknown hash: exits non-zero and says why', async () => {
    const unknown = sha256Of(randomBytes(16))
    const r = await meshsync(['fetch', unknown, '--api', dst.apiAddress!, '--json'])
    expect(r.code).not.toBe(0)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain(`no node announces a file with sha256 ${unknown}`)
    const from = await meshsync(['fetch', unknown, '--api', dst.apiAddress!, '--from', src.peerId])
    expect(from.code).not.toBe(0)
    expect(from.stderr).toContain('does not announce')
  })

  it('a file that fails validation: exits non-zero with the reason, and nothing lands', async () => {
    const r = await meshsync(['fetch', badSha, '--api', dst.apiAddress!, '--json'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('CRC-32 mismatch')
    expect(await dataFiles(dst.layout.dataDir)).toEqual(['other.bin', 'weights.bin'])
  })

  it('not a SHA-256, or no node at --api: exits non-zero and says why', async () => {
    const bad = await meshsync(['fetch', '../../etc/passwd', '--api', dst.apiAddress!])
    expect(bad.code).not.toBe(0)
    expect(bad.stderr).toContain('is not a SHA-256')
    const nobody = await meshsync(['fetch', sha, '--api', '127.0.0.1:1', '--json'])
    expect(nobody.code).not.toBe(0)
    expect(nobody.stderr).toContain('no meshsync node answers at')
  })
})
