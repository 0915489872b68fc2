import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { CLI_JS, copyFixtures, meshsync, sha256Of, sha256OfFile } from '../transfer/support.js'

/**
 * A file an operator releases from quarantine that is really invalid: it is
 * not announced (every receiver would pull it and quarantine it again), and
 * SIGTERM evacuation does not wait its whole deadline for a copy nobody
 * accepts, nor for a file its policy lets no staying node take: it names them.
 */

const BAD = 'npz/bitflip.npz'

describe('a released file that is still invalid, and evacuation', () => {
  let a: MeshsyncNode
  let b: MeshsyncNode
  let badSha = ''
  const good = randomBytes(200_000)
  const pinned = randomBytes(10_000)
  // one copy each: b pulls a's files only once a evacuates; pinned/** may never go to rx
  const settings = {
    'policies.pinned.match.globs': ['pinned/**'],
    'policies.pinned.excludeHosts': ['ri-rx'],
    'policies.pinned.minCopies': 1,
    'policies.pinned.maxCopies': 1,
    'policies.all.minCopies': 1,
    'policies.all.maxCopies': 2,
  }

  beforeAll(async () => {
    if (!existsSync(CLI_JS)) throw new Error(`${CLI_JS} is missing: run tools/node24 npm run build first`)
    a = await startNode({ name: 'ri-holder', settings })
    b = await startNode({ name: 'ri-rx', bootstrap: [a.addresses[0]!], settings })
    await writeFile(join(a.layout.dataDir, 'good.bin'), good)
    await mkdir(join(a.layout.dataDir, 'pinned'))
    await writeFile(join(a.layout.dataDir, 'pinned', 'p.bin'), pinned)
    badSha = await sha256OfFile(join('/work/shared/fixtures', BAD))
    await copyFixtures(a.layout.dataDir, [BAD])
    await waitFor('the bad file quarantined by its holder', () => a.quarantine.list().length === 1)
    await waitFor('the good files known to rx', () => [sha256Of(good), sha256Of(pinned)].every((s) => b.view.holders(s).includes(a.peerId)))
  })
  afterAll(async () => {
    await stopAll([a, b])
  })

  it('quarantine release says it stays unannounced; it is back on disk, and no receiver pulls it', async () => {
    const [rec] = a.quarantine.list()
    const r = await meshsync(['quarantine', 'release', rec!.id, '--api', a.apiAddress!])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(`released ${rec!.id} to ${BAD}; it still fails validation (`)
    expect(r.stdout).toContain('CRC-32 mismatch')
    expect(r.stdout).toContain('not announced until it changes')
    expect(existsSync(join(a.layout.dataDir, BAD))).toBe(true)
    await waitFor('the withheld event', () => a.events.list({ types: ['file_withheld'], limit: 10 }).length === 1)
    // a few more scans and health rounds: still not announced, nobody fetched or quarantined it
    const scans = a.scanner.scans
    await waitFor('two more scans', () => a.scanner.scans >= scans + 2)
    expect(a.manifest.get(BAD)).toBeUndefined()
    expect(b.view.holders(badSha)).toEqual([])
    expect(b.quarantine.list()).toEqual([])
    expect(a.quarantine.list()).toEqual([])
  })

  it('evacuation names the files it cannot place and does not wait the deadline for them', async () => {
    const deadlineMs = 60_000
    const started = Date.now()
    const res = await a.evacuate(deadlineMs)
    expect(Date.now() - started).toBeLessThan(30_000)
    expect(res.left).toEqual([])
    expect(res.safe).toBeGreaterThanOrEqual(1)
    expect(b.manifest.bySha(sha256Of(good)).length).toBe(1)
    const byPath = Object.fromEntries(res.unplaceable.map((u) => [u.path, u.reason]))
    expect(Object.keys(byPath).sort()).toEqual([BAD, 'pinned/p.bin'])
    expect(byPath[BAD]).toContain('fails validation')
    expect(byPath['pinned/p.bin']).toContain('policy pinned lets no other node that stays receive it')
    const ev = a.events.list({ types: ['evacuation_finished'], limit: 1 })[0]
    expect(ev?.data).toMatchObject({ unplaceableCount: 2, leftCount: 0 })
    expect(b.quarantine.list()).toEqual([])
  })
})

describe('evacuation of a node that announced without checking (catalog.validateLocal: false)', () => {
  let a: MeshsyncNode
  let b: MeshsyncNode
  const good = randomBytes(100_000)
  const settings = { 'policies.all.minCopies': 1, 'policies.all.maxCopies': 2 }

  beforeAll(async () => {
    a = await startNode({ name: 'rv-holder', settings: { ...settings, 'catalog.validateLocal': false } })
    b = await startNode({ name: 'rv-rx', bootstrap: [a.addresses[0]!], settings })
    await writeFile(join(a.layout.dataDir, 'good.bin'), good)
    await copyFixtures(a.layout.dataDir, [BAD])
    const badSha = await sha256OfFile(join(a.layout.dataDir, BAD))
    await waitFor('both files known to rx', () => [sha256Of(good), badSha].every((s) => b.view.holders(s).includes(a.peerId)))
  })
  afterAll(async () => {
    await stopAll([a, b])
  })

  it('checks what it still waits for as receivers will, and names the invalid file instead of waiting the deadline', async () => {
    const started = Date.now()
    const res = await a.evacuate(60_000)
    expect(Date.now() - started).toBeLessThan(30_000)
    expect(res.left).toEqual([])
    expect(res.unplaceable.map((u) => u.path)).toEqual([BAD])
    expect(res.unplaceable[0]!.reason).toMatch(/fails validation, so every receiver rejects it: .*CRC-32 mismatch/)
    expect(b.manifest.bySha(sha256Of(good)).length).toBe(1)
  })
})
