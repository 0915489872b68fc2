import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { ManifestEntry } from '../../protocols/manifest/index.js'
import { digestFile } from '../../src/catalog/hasher.js'
import { LocalManifest } from '../../src/catalog/local-manifest.js'
import { Scanner } from '../../src/catalog/scanner.js'
import { ensureLayout, layoutOf, STATE_DIR_NAME, type Layout } from '../../src/node/layout.js'
import { Quarantine } from '../../src/quarantine/quarantine.js'
import { EventLog } from '../../src/state/event-log.js'
import { openStateDb, type Db } from '../../src/state/db.js'
import { land, type LandingInit } from '../../src/transfer/landing.js'
import { ManualClock } from '../../src/util/clock.js'
import { silentLogger } from '../../src/util/log.js'
import type { Verdict } from '../../src/validate/types.js'

const SELF = '12D3KooWSelfSelfSelfSelfSelfSelfSelfSelfSelfSelfSelf'
const PRODUCER = '12D3KooWProducerProducerProducerProducerProducerPro'
const STABLE_MS = 1000

interface Rig {
  layout: Layout
  db: Db
  clock: ManualClock
  manifest: LocalManifest
  scanner: Scanner
  landing: LandingInit
  /** Set to hold the scanner inside its validation of the file at this path until `release` is called. */
  hold: { path?: string; reached?: () => void; release?: Promise<void> }
  /** Replicas being fetched, by SHA-256 (what the transfer manager would answer). */
  wanted: Map<string, ManifestEntry>
  changes: { path: string; origin: string; version: number; removed: boolean }[]
}

const rigs: Rig[] = []
afterEach(async () => {
  for (const r of rigs.splice(0)) {
    r.db.close()
    await rm(r.layout.dataDir, { recursive: true, force: true })
  }
})

async function rig(): Promise<Rig> {
  const layout = layoutOf(await mkdtemp(join(tmpdir(), 'meshsync-scanrule-')))
  await ensureLayout(layout)
  const db = openStateDb(layout.db)
  const clock = new ManualClock()
  const manifest = new LocalManifest(db, SELF)
  const ok = async (): Promise<Verdict> => ({ ok: true, kind: 'other', facts: { kind: 'other' } })
  const hold: Rig['hold'] = {}
  const wanted = new Map<string, ManifestEntry>()
  const scanner = new Scanner({
    dataDir: layout.dataDir,
    stateDirName: STATE_DIR_NAME,
    snapshotDir: layout.snapshots,
    manifest,
    clock,
    log: silentLogger,
    exclude: [],
    stableMs: STABLE_MS,
    sqliteMaxUnstableMs: 60_000,
    validate: async (path) => {
      if (hold.path != null && path === join(layout.dataDir, hold.path)) {
        hold.reached?.()
        await hold.release
      }
      return ok()
    },
    replicaOf: (rel, sha256) => (wanted.get(sha256)?.path === rel ? wanted.get(sha256) : undefined),
  })
  const quarantine = new Quarantine({ dir: layout.quarantine, dataDir: layout.dataDir, db, clock, events: new EventLog(db, clock) })
  const landing: LandingInit = { dataDir: layout.dataDir, manifest, quarantine, clock, validate: ok }
  const r: Rig = { layout, db, clock, manifest, scanner, landing, hold, wanted, changes: [] }
  manifest.onChange((e, removed) => r.changes.push({ path: e.path, origin: e.origin, version: e.version, removed }))
  rigs.push(r)
  return r
}

/** Holds the scanner inside its validation of `path`; resolves once it is there, with the function that lets it go. */
function holdAt(r: Rig, path: string): { reached: Promise<void>; release: () => void } {
  let release!: () => void
  const reached = new Promise<void>((res) => {
    r.hold.reached = res
  })
  r.hold.release = new Promise<void>((res) => {
    release = res
  })
  r.hold.path = path
  return { reached, release }
}

async function write(r: Rig, rel: string, bytes: Buffer): Promise<void> {
  const abs = join(r.layout.dataDir, rel)
  await mkdir(join(abs, '..'), { recursive: true })
  await writeFile(abs, bytes)
}

/** Stages `bytes` as a replica of the producer's file at `rel` and lands it. */
async function landReplica(r: Rig, rel: string, bytes: Buffer, version = 3): Promise<ManifestEntry> {
  const staging = join(r.layout.staging, `${rel.replaceAll('/', '_')}.part`)
  await writeFile(staging, bytes)
  const d = await digestFile(staging)
  const entry: ManifestEntry = { path: rel, sha256: d.sha256, size: d.size, kind: 'other', origin: PRODUCER, version, mtimeMs: 1_600_000_000_000, chunkRoot: d.chunkRoot, promoted: false }
  await land(r.landing, { entry, stagingPath: staging, digest: d.sha256, chunkSize: d.chunkSize, chunkHashes: d.chunkHashes, sources: [PRODUCER] }, new AbortController().signal)
  return entry
}

/** Files on disk outside meshsync's own folder. */
async function filesOnDisk(r: Rig): Promise<string[]> {
  const all = (await readdir(r.layout.dataDir, { recursive: true, withFileTypes: true })).filter((d) => d.isFile())
  return all.map((d) => join(d.parentPath, d.name).slice(r.layout.dataDir.length + 1)).filter((p) => !p.startsWith(STATE_DIR_NAME)).sort()
}

describe('the scanner and a landing that happens during a scan', () => {
  it('a replica committed after the scan listed its folder is not removed as gone', async () => {
    const r = await rig()
    // a local file in the last folder the walk visits, still to be announced: the scan waits in its validation
    await write(r, 'z/local.bin', randomBytes(5000))
    await r.scanner.scan(new AbortController().signal)
    await r.clock.advance(STABLE_MS)
    await mkdir(join(r.layout.dataDir, 'a'), { recursive: true })
    const h = holdAt(r, 'z/local.bin')
    const scan = r.scanner.scan(new AbortController().signal)
    await h.reached
    // folder a/ is listed by now; a replica lands in it
    const entry = await landReplica(r, 'a/replica.bin', randomBytes(7000))
    h.release()
    const stats = await scan
    expect(stats.removed).toBe(0)
    expect(r.manifest.get('a/replica.bin')?.origin).toBe(PRODUCER)
    expect(r.changes.filter((c) => c.removed)).toEqual([])
    // the next scan sees it on disk as cataloged: nothing is hashed or announced again
    await r.clock.advance(10 * STABLE_MS)
    const again = await r.scanner.scan(new AbortController().signal)
    expect(again).toMatchObject({ hashed: 0, removed: 0 })
    expect(r.manifest.get('a/replica.bin')).toMatchObject({ origin: PRODUCER, version: entry.version, sha256: entry.sha256 })
    expect(r.changes.filter((c) => c.path === 'a/replica.bin')).toEqual([{ path: 'a/replica.bin', origin: PRODUCER, version: entry.version, removed: false }])
  })

  it('a file that really went away is still removed by the next scan', async () => {
    const r = await rig()
    await landReplica(r, 'a/replica.bin', randomBytes(3000))
    await rm(join(r.layout.dataDir, 'a/replica.bin'))
    const stats = await r.scanner.scan(new AbortController().signal)
    expect(stats.removed).toBe(1)
    expect(r.manifest.get('a/replica.bin')).toBeUndefined()
  })

  it('a replica that lands while the scanner hashes the same bytes at its path keeps the producer as origin, under one name', async () => {
    const r = await rig()
    const bytes = randomBytes(9000)
    // the bytes are at the path but not in the catalog (a landing's rename done, its commit not yet, or lost)
    await write(r, 'g/f01767.bin', bytes)
    await r.scanner.scan(new AbortController().signal)
    await r.clock.advance(STABLE_MS)
    const h = holdAt(r, 'g/f01767.bin')
    const scan = r.scanner.scan(new AbortController().signal)
    await h.reached
    const entry = await landReplica(r, 'g/f01767.bin', bytes, 7)
    h.release()
    await scan
    expect(r.manifest.get('g/f01767.bin')).toMatchObject({ origin: PRODUCER, version: 7, sha256: entry.sha256 })
    expect(r.changes.filter((c) => c.origin === SELF)).toEqual([])
    expect(await filesOnDisk(r)).toEqual(['g/f01767.bin'])
    expect(r.manifest.count).toBe(1)
  })

  it('landing bytes identical to an uncataloged file at the path catalogs that path, with no second name', async () => {
    const r = await rig()
    const bytes = randomBytes(4096)
    await write(r, 'games/d08/f01767.bin', bytes)
    await landReplica(r, 'games/d08/f01767.bin', bytes)
    expect(await filesOnDisk(r)).toEqual(['games/d08/f01767.bin'])
    expect(r.manifest.get('games/d08/f01767.bin')?.origin).toBe(PRODUCER)
    // landing the same bytes again is a no-op
    await landReplica(r, 'games/d08/f01767.bin', bytes)
    expect(await filesOnDisk(r)).toEqual(['games/d08/f01767.bin'])
    expect(r.changes).toHaveLength(1)
  })

  it('a different local file at the path is left alone and the replica gets its hashed name', async () => {
    const r = await rig()
    await write(r, 'g/x.bin', randomBytes(4096))
    const entry = await landReplica(r, 'g/x.bin', randomBytes(4096))
    expect(await filesOnDisk(r)).toEqual(['g/x.bin', `g/x.${entry.sha256.slice(0, 12)}.bin`].sort())
  })

  it('an uncataloged file holding the bytes of a replica being fetched to that path is cataloged as the producer\'s', async () => {
    const r = await rig()
    const bytes = randomBytes(6000)
    // a landing renamed these bytes into place and the process died before the catalog commit; the transfer row survived
    await write(r, 'g/after-crash.bin', bytes)
    const d = await digestFile(join(r.layout.dataDir, 'g/after-crash.bin'))
    const entry: ManifestEntry = { path: 'g/after-crash.bin', sha256: d.sha256, size: d.size, kind: 'other', origin: PRODUCER, version: 4, mtimeMs: 1_600_000_000_000, chunkRoot: d.chunkRoot, promoted: false }
    r.wanted.set(d.sha256, entry)
    // a local file of other bytes beside it is still this node's own
    await write(r, 'g/mine.bin', randomBytes(100))
    await r.scanner.scan(new AbortController().signal)
    await r.clock.advance(STABLE_MS)
    await r.scanner.scan(new AbortController().signal)
    expect(r.manifest.get('g/after-crash.bin')).toMatchObject({ origin: PRODUCER, version: 4, mtimeMs: entry.mtimeMs })
    expect(r.manifest.get('g/mine.bin')).toMatchObject({ origin: SELF, version: 1 })
  })
})
