import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DiskFile } from '../../sim/run/disk-scan.js'
import { noDataLost } from '../../sim/run/invariants.js'
import { Ledger, type LedgerFile } from '../../sim/run/ledger.js'
import { checkSinkCopies } from '../../sim/run/sink-copies.js'
import { parseScenario } from '../../sim/scenario/load.js'
import { plan } from '../../sim/scenario/plan.js'
import { initPathSink, PathSink } from '../../src/sinks/path.js'

/**
 * noDataLost with sinks: a file whose only copy is an object in a sink is
 * kept only when the object verifies (size, stored checksum, bytes re-hashed
 * by the harness through src/sinks/verify.ts); an object altered in the sink
 * or missing counts for nothing, and a sink counts as one copy at most.
 */
describe('noDataLost counts only verified sink copies', () => {
  let dir: string
  let drive: PathSink
  let spare: PathSink
  const files: { f: LedgerFile; bytes: Buffer }[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshsync-sim-sinkinv-'))
    for (const name of ['drive', 'spare']) {
      await mkdir(join(dir, name))
      await initPathSink(join(dir, name))
    }
    drive = new PathSink('drive', join(dir, 'drive'))
    spare = new PathSink('spare', join(dir, 'spare'))
    for (let i = 0; i < 2; i++) {
      const bytes = randomBytes(64 * 1024 + i)
      const sha256 = createHash('sha256').update(bytes).digest('hex')
      const f: LedgerFile = { sha256, path: `other/n/blob_000${i}.bin`, size: bytes.length, kind: 'blob', origin: 'n-0', minCopies: 1, policy: 'default', createdAtMs: 0, ackedAtMs: 1000 }
      files.push({ f, bytes })
      await drive.put({ sha256, size: bytes.length, kind: 'other', chunkRoot: '' }, Readable.from([bytes]))
    }
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  const ledgerOf = (list: LedgerFile[]): Ledger => {
    const l = new Ledger()
    for (const f of list) l.add({ ...f })
    return l
  }
  // every node is gone: nothing on any disk
  const noDisk = new Map<string, DiskFile[]>()
  const run = async (list: LedgerFile[], min = 1) => {
    const ledger = ledgerOf(list.map((f) => ({ ...f, minCopies: min })))
    const checks = await checkSinkCopies(ledger.all(), [drive, spare], { rehash: true })
    return noDataLost(ledger, noDisk, new Set(), new Map(), [[]], checks)
  }

  it('a verified sink object keeps a file that has no other copy; without sinks it is lost', async () => {
    const ok = await run([files[0]!.f])
    expect(ok.breaches).toEqual([])
    expect(ok.result.ok).toBe(true)
    expect((ok.result.detail as { sinkCopiesCounted: number }).sinkCopiesCounted).toBe(1)
    const without = noDataLost(ledgerOf([files[0]!.f]), noDisk, new Set(), new Map(), [[]])
    expect(without.result.ok).toBe(false)
  })

  it('an object altered in the sink (same size, same metadata, other bytes) does not count', async () => {
    const { f, bytes } = files[1]!
    expect((await run([f])).result.ok).toBe(true)
    const altered = Buffer.from(bytes)
    altered[100] = altered[100]! ^ 0xff
    await writeFile(join(dir, 'drive', 'blobs', f.sha256), altered)
    const bad = await run([f])
    expect(bad.result.ok).toBe(false)
    expect(bad.breaches).toHaveLength(1)
    expect(bad.breaches[0]!.message).toContain(f.path)
    expect(bad.breaches[0]!.message).toContain('re-hashed')
    expect((bad.result.detail as { sinkCopiesUnverified: number }).sinkCopiesUnverified).toBe(1)
  })

  it('a sink counts as one copy at most: a file that needs two is lost with only sink copies', async () => {
    const { f, bytes } = files[0]!
    await spare.put({ sha256: f.sha256, size: bytes.length, kind: 'other', chunkRoot: '' }, Readable.from([bytes]))
    const two = await run([f], 2)
    expect(two.result.ok).toBe(false)
    expect(two.breaches[0]!.message).toContain('plus a verified copy in sink drive, spare (counted once)')
    // one live copy on disk plus the verified sink copy is enough for two
    const disk = new Map<string, DiskFile[]>([['n-1', [{ path: f.path, size: f.size, sha256: f.sha256 }]]])
    const ledger = ledgerOf([{ ...f, minCopies: 2 }])
    const checks = await checkSinkCopies(ledger.all(), [drive, spare], { rehash: true })
    expect(noDataLost(ledger, disk, new Set(['n-1']), new Map(), [['n-1']], checks).result.ok).toBe(true)
  })
})

describe('scenario sinks', () => {
  it('a policy backing up to a sink the scenario does not declare is refused, naming both', () => {
    const s = parseScenario(`
name: t
nodes: 2
sinks: { drive: { type: path } }
policies: { games: { backup: [cloud] } }
`)
    expect(() => plan(s)).toThrow(/policies\.games\.backup names sink 'cloud'.*\(drive\)/)
    expect(() => parseScenario('name: t\nsinks: { drive: { type: path, path: /x } }\n')).toThrow(/'path'/)
  })

  it('lose-all plans every node down, and the named restorers', () => {
    const s = parseScenario(`
name: t
nodes: 3
groups: [{ name: store, count: 1 }, { name: n, share: 1 }]
sinks: { drive: { type: path } }
faults: [{ type: lose-all, at: 5, restartAfter: 3, restoreOn: [store-0] }]
`)
    const p = plan(s)
    expect(p.actions).toEqual([{ t: 5000, type: 'lose-all', restoreOn: ['store-0'], restartAfterMs: 3000, backupWaitMs: 60_000 }])
    expect(p.quietAtMs).toBe(8000)
  })
})
