import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { CLI_JS, meshsync, NO_REPLICATION, sha256Of } from './support.js'

/**
 * How `meshsync fetch` and `files --where` name files, run as the compiled
 * bin/meshsync (build first): SHA-256 prefixes as `files` prints them, any
 * case, paths, and globs on the base name.
 */

/** Two different contents whose SHA-256 share their first 8 hex digits (a birthday search, ~80k hashes). */
function twinPrefix(): [Buffer, Buffer, string] {
  const seen = new Map<string, Buffer>()
  const salt = randomBytes(8).toString('hex')
  for (let i = 0; ; i++) {
    const buf = Buffer.from(`${salt} twin ${i}\n`)
    const p = createHash('sha256').update(buf).digest('hex').slice(0, 8)
    const other = seen.get(p)
    if (other != null) return [other, buf, p]
    seen.set(p, buf)
  }
}

describe('naming files in the CLI (fetch by prefix or path, files --where)', () => {
  let src: MeshsyncNode
  let dst: MeshsyncNode
  const files: Record<string, Buffer> = { 'games/x.db.bin': randomBytes(5000), 'games/d1/y.bin': randomBytes(6000), 'z.bin': randomBytes(7000) }
  const [twinA, twinB, twin] = twinPrefix()
  files['twins/a.txt'] = twinA
  files['twins/b.txt'] = twinB
  const sha = (p: string): string => sha256Of(files[p]!)

  beforeAll(async () => {
    if (!existsSync(CLI_JS)) throw new Error(`${CLI_JS} is missing: run tools/node24 npm run build first`)
    src = await startNode({ name: 'names-src', settings: NO_REPLICATION })
    dst = await startNode({ name: 'names-dst', bootstrap: [src.addresses[0]!], settings: NO_REPLICATION })
    for (const [p, data] of Object.entries(files)) {
      await mkdir(join(src.layout.dataDir, p, '..'), { recursive: true })
      await writeFile(join(src.layout.dataDir, p), data)
    }
    await waitFor('every file known to the receiver', () => Object.keys(files).every((p) => dst.view.holders(sha(p)).includes(src.peerId)))
  })
  afterAll(async () => {
    await stopAll([src, dst])
  })

  it('fetches by the 12-digit prefix `files` prints, and by upper-case hex', async () => {
    const list = await meshsync(['files', '--api', dst.apiAddress!])
    expect(list.code, list.stderr).toBe(0)
    const row = list.stdout.split('\n').find((l) => l.startsWith('z.bin'))
    const printed = row?.split(/\s+/).find((c) => /^[0-9a-f]{12}$/.test(c))
    expect(printed).toBe(sha('z.bin').slice(0, 12))
    const r = await meshsync(['fetch', printed!, '--api', dst.apiAddress!, '--json'])
    expect(r, r.stderr).toMatchObject({ code: 0 })
    expect(JSON.parse(r.stdout)).toMatchObject({ sha256: sha('z.bin'), state: 'landed', path: 'z.bin' })
    const upper = await meshsync(['fetch', sha('games/d1/y.bin').toUpperCase(), '--api', dst.apiAddress!, '--json'])
    expect(upper, upper.stderr).toMatchObject({ code: 0 })
    expect(JSON.parse(upper.stdout)).toMatchObject({ sha256: sha('games/d1/y.bin'), path: 'games/d1/y.bin' })
  })

  it('fetches by --path', async () => {
    const r = await meshsync(['fetch', '--path', 'games/x.db.bin', '--api', dst.apiAddress!, '--json'])
    expect(r, r.stderr).toMatchObject({ code: 0 })
    expect(JSON.parse(r.stdout)).toMatchObject({ sha256: sha('games/x.db.bin'), path: 'games/x.db.bin' })
    const none = await meshsync(['fetch', '--path', 'x.db.bin', '--api', dst.apiAddress!])
    expect(none.code).toBe(1)
    expect(none.stderr).toContain('no known file has the path x.db.bin (same name elsewhere:')
    expect(none.stderr).toContain('games/x.db.bin')
  })

  it('an ambiguous prefix names the files it matches; a too-short one says how long', async () => {
    const r = await meshsync(['fetch', twin.toUpperCase(), '--api', dst.apiAddress!])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`${twin} is the start of 2 files' SHA-256; give more digits`)
    expect(r.stderr).toContain('twins/a.txt')
    expect(r.stderr).toContain('twins/b.txt')
    const short = await meshsync(['fetch', sha('z.bin').slice(0, 7), '--api', dst.apiAddress!])
    expect(short.code).toBe(1)
    expect(short.stderr).toContain('too short: give at least 8 hex digits')
    const unknown = await meshsync(['fetch', 'ffffffff0', '--api', dst.apiAddress!])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain("no known file's SHA-256 starts with ffffffff0")
  })

  it("files --where '*.bin' matches base names in every folder; a glob with a slash matches whole paths", async () => {
    const all = await meshsync(['files', '--where', '*.bin', '--api', dst.apiAddress!, '--json'])
    expect(all.code, all.stderr).toBe(0)
    expect((JSON.parse(all.stdout) as { path: string }[]).map((f) => f.path)).toEqual(['games/d1/y.bin', 'games/x.db.bin', 'z.bin'])
    const top = await meshsync(['files', '--where', 'games/*.bin', '--api', dst.apiAddress!, '--json'])
    expect((JSON.parse(top.stdout) as { path: string }[]).map((f) => f.path)).toEqual(['games/x.db.bin'])
  })
})
