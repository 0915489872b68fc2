import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { CLI_JS, copyFixtures, meshsync, NO_REPLICATION, sha256Of, sha256OfFile } from './support.js'

/**
 * What the CLI shows of peers and how it names its output (compiled
 * bin/meshsync, build first): names with a distinctive part of the ID,
 * events as JSON Lines, quarantine fields named for what they hold.
 */

describe('peers, events and quarantine in the CLI', () => {
  let src: MeshsyncNode
  let dst: MeshsyncNode
  const good = randomBytes(50_000)
  const goodSha = sha256Of(good)
  let badSha = ''
  const tail = (id: string): string => `…${id.slice(-8)}`

  beforeAll(async () => {
    if (!existsSync(CLI_JS)) throw new Error(`${CLI_JS} is missing: run tools/node24 npm run build first`)
    src = await startNode({ name: 'pn-src', settings: { ...NO_REPLICATION, 'catalog.validateLocal': false } })
    dst = await startNode({ name: 'pn-dst', bootstrap: [src.addresses[0]!], settings: NO_REPLICATION })
    await writeFile(join(src.layout.dataDir, 'good.bin'), good)
    await copyFixtures(src.layout.dataDir, ['npz/bitflip.npz'])
    badSha = await sha256OfFile(join(src.layout.dataDir, 'npz/bitflip.npz'))
    await waitFor('both files known to dst, with the source named', () => {
      const p = dst.view.get(src.peerId)
      return p?.state === 'up' && p.name === 'pn-src' && [goodSha, badSha].every((s) => dst.view.holders(s).includes(src.peerId))
    })
    await dst.fetch(goodSha, { signal: AbortSignal.timeout(30_000) })
    await dst.fetch(badSha, { signal: AbortSignal.timeout(30_000) }).catch(() => {})
    await waitFor('the bad file quarantined on dst', () => dst.quarantine.list().length === 1)
  })
  afterAll(async () => {
    await stopAll([src, dst])
  })

  it('peers: the name and the distinctive end of the ID, not 12D3…', async () => {
    const r = await meshsync(['peers', '--api', dst.apiAddress!])
    expect(r.code, r.stderr).toBe(0)
    const row = r.stdout.split('\n').find((l) => l.startsWith('pn-src'))
    expect(row).toContain(tail(src.peerId))
    expect(r.stdout).not.toContain('12D3…')
  })

  it('events: peers by name; --jsonl is JSON Lines, --json its alias, and --help says so', async () => {
    const r = await meshsync(['events', '--api', dst.apiAddress!, '--type', 'sync_started,quarantined'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(`peer=pn-src (${tail(src.peerId)})`)
    expect(r.stdout).not.toContain('12D3…')
    for (const flag of ['--jsonl', '--json']) {
      const j = await meshsync(['events', '--api', dst.apiAddress!, flag])
      expect(j.code, j.stderr).toBe(0)
      const lines = j.stdout.trim().split('\n')
      expect(lines.length).toBeGreaterThan(2)
      const events = lines.map((l) => JSON.parse(l) as { type: string; sha256?: string; data?: Record<string, unknown> })
      const done = events.find((e) => e.type === 'sync_completed' && e.sha256 === goodSha)
      expect(done?.data).toMatchObject({ megabytesPerSecond: expect.any(Number), mbps: done?.data?.megabytesPerSecond })
      expect(events.find((e) => e.type === 'quarantined')?.data).toMatchObject({ foundBy: 'receiver', foundAt: 'receiver' })
    }
    const help = await meshsync(['events', '--help'])
    expect(help.stdout).toContain('--jsonl')
    expect(help.stdout).toContain('JSON Lines')
    expect(help.stdout).toMatch(/--json\b.*alias/s)
  })

  it('quarantine list: FOUND BY (who) and TIME columns, the source by name; JSON has foundBy and the old foundAt', async () => {
    const r = await meshsync(['quarantine', 'list', '--api', dst.apiAddress!])
    expect(r.code, r.stderr).toBe(0)
    const [header, row] = r.stdout.split('\n')
    expect(header).toMatch(/^ID\s+TIME\s+PATH\s+SIZE\s+FOUND BY\s+SOURCE\s+STATE\s+REASON$/)
    expect(header).not.toContain('FOUND AT')
    expect(row).toMatch(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/)
    expect(row).toContain('receiver')
    expect(row).toContain(`pn-src (${tail(src.peerId)})`)
    const j = await meshsync(['quarantine', 'list', '--api', dst.apiAddress!, '--json'])
    expect(JSON.parse(j.stdout)).toMatchObject([{ path: 'npz/bitflip.npz', foundBy: 'receiver', foundAt: 'receiver', sourcePeer: src.peerId }])
  })
})
