import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import type { QuarantineRecord } from '../../src/quarantine/quarantine.js'
import { api, startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { copyFixtures, dataFiles, FIXTURES, type FixtureRow, fixtureRows, NO_REPLICATION, REASON_WORDS, sha256Of, sha256OfFile } from './support.js'

/**
 * Every fixture in EXPECTED.tsv, moved between two real nodes: valid files
 * land byte-identical; invalid ones are quarantined, with the reason, at the
 * source when it validates its own files and at the receiver when it does
 * not, and never appear in the receiver's data dir.
 */

const rows = await fixtureRows()
const valid = rows.filter((r) => r.valid)
const invalid = rows.filter((r) => !r.valid)
/** The one fixture whose rows live partly in its -wal: what is announced and sent is a snapshot, not the file. */
const LIVE_WAL = 'sqlite/live_wal/games.db'

const fixtureSha = new Map<string, string>()
for (const r of rows) fixtureSha.set(r.path, sha256Of(await readFile(join(FIXTURES, r.path))))

function gamesIn(path: string): { games: number; integrity: string } {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    return {
      games: (db.prepare('SELECT count(*) AS c FROM games').get() as { c: number }).c,
      integrity: db.pragma('integrity_check', { simple: true }) as string,
    }
  } finally {
    db.close()
  }
}

/** Starts a source holding copies of every fixture, and a receiver connected to it. */
async function pair(name: string, sourceSettings: Record<string, unknown>): Promise<[MeshsyncNode, MeshsyncNode]> {
  const srcDir = await mkdtemp(join(tmpdir(), `meshsync-${name}-src-`))
  await copyFixtures(
    srcDir,
    rows.map((r) => r.path),
  )
  const src = await startNode({ name: `${name}-src`, dataDir: srcDir, settings: { ...NO_REPLICATION, ...sourceSettings } })
  const dst = await startNode({ name: `${name}-dst`, bootstrap: [src.addresses[0]!], settings: NO_REPLICATION })
  // a holder counts as a source once its health says it is up
  await waitFor('the source up in the receiver view', () => dst.view.get(src.peerId)?.state === 'up')
  return [src, dst]
}

/** Fetches a valid fixture and checks what landed. */
async function expectLands(src: MeshsyncNode, dst: MeshsyncNode, r: FixtureRow): Promise<void> {
  const announced = src.manifest.get(r.path)
  expect(announced, `${r.path} announced by the source`).toBeDefined()
  const sha = announced!.sha256
  await waitFor(`${r.path} known to the receiver`, () => dst.view.holders(sha).includes(src.peerId))
  const landed = await dst.fetch(sha, { signal: AbortSignal.timeout(30_000) })
  expect(landed.path).toBe(r.path)
  const got = await readFile(join(dst.layout.dataDir, r.path))
  expect(sha256Of(got)).toBe(sha)
  if (r.path === LIVE_WAL) {
    // the source sent a consistent snapshot: every game, one self-contained file
    expect(gamesIn(join(dst.layout.dataDir, r.path))).toEqual({ games: 250, integrity: 'ok' })
  } else {
    expect(sha).toBe(fixtureSha.get(r.path))
    expect(got.equals(await readFile(join(FIXTURES, r.path)))).toBe(true)
  }
}

function expectRecord(list: QuarantineRecord[], r: FixtureRow, foundAt: 'source' | 'receiver', peer: string): void {
  const rec = list.find((q) => q.path === r.path)
  expect(rec, `${r.path} in GET /quarantine`).toBeDefined()
  expect(rec).toMatchObject({ path: r.path, sha256: fixtureSha.get(r.path), sourcePeer: peer, foundAt, kind: r.kind, state: 'held' })
  expect(rec!.reason).toContain(REASON_WORDS[r.path])
}

describe('fixtures: the source validates its own files (catalog.validateLocal true)', () => {
  let src: MeshsyncNode
  let dst: MeshsyncNode
  beforeAll(async () => {
    ;[src, dst] = await pair('fx-validating', {})
    await waitFor(
      'the source to catalog every valid fixture and quarantine every invalid one',
      () => valid.every((r) => src.manifest.get(r.path) != null) && src.quarantine.list().length >= invalid.length,
      30_000,
    )
  })
  afterAll(async () => {
    await stopAll([src, dst])
  })

  it('quarantines every invalid fixture at the source, with sha256, path, reason and source peer in GET /quarantine', async () => {
    const list = await api<QuarantineRecord[]>(src, '/quarantine')
    expect(list.map((q) => q.path).sort()).toEqual(invalid.map((r) => r.path).sort())
    for (const r of invalid) expectRecord(list, r, 'source', src.peerId)
    // nothing invalid is announced, so no node can fetch it
    for (const r of invalid) {
      expect(src.manifest.get(r.path)).toBeUndefined()
      await expect(dst.fetch(fixtureSha.get(r.path)!)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' })
    }
  })

  it('lands every valid fixture byte-identical, and nothing else, in the receiver data dir', async () => {
    await Promise.all(valid.map((r) => expectLands(src, dst, r)))
    expect(await dataFiles(dst.layout.dataDir)).toEqual(valid.map((r) => r.path).sort())
    expect(await api<QuarantineRecord[]>(dst, '/quarantine')).toEqual([])
    // each landed at the first attempt (files landing side by side in one new folder must not trip over each other)
    expect(dst.events.list({ types: ['sync_failed'] })).toEqual([])
  })
})

describe('fixtures: the source does not validate (catalog.validateLocal false)', () => {
  let src: MeshsyncNode
  let dst: MeshsyncNode
  beforeAll(async () => {
    ;[src, dst] = await pair('fx-trusting', { 'catalog.validateLocal': false })
    await waitFor(
      'the source to announce every fixture, valid or not, and the receiver to know them',
      () => rows.every((r) => src.manifest.get(r.path) != null && dst.view.holders(src.manifest.get(r.path)!.sha256).includes(src.peerId)),
      30_000,
    )
  })
  afterAll(async () => {
    await stopAll([src, dst])
  })

  it('the receiver quarantines every invalid fixture with the reason, and lands every valid one', async () => {
    expect(src.quarantine.list()).toEqual([])
    const outcomes = await Promise.all(
      rows.map(async (r) => {
        if (r.valid) return expectLands(src, dst, r)
        const sha = src.manifest.get(r.path)!.sha256
        expect(sha).toBe(fixtureSha.get(r.path))
        const err = await dst.fetch(sha, { signal: AbortSignal.timeout(30_000) }).then(
          () => undefined,
          (e: unknown) => e,
        )
        expect(err, `${r.path} must not land`).toBeInstanceOf(Error)
        expect((err as Error).message).toContain(REASON_WORDS[r.path])
      }),
    )
    expect(outcomes).toHaveLength(rows.length)

    const list = await api<QuarantineRecord[]>(dst, '/quarantine')
    expect(list.map((q) => q.path).sort()).toEqual(invalid.map((r) => r.path).sort())
    for (const r of invalid) expectRecord(list, r, 'receiver', src.peerId)
    // the quarantined bytes are kept, and they are the bytes that were sent
    for (const q of list) expect(await sha256OfFile(join(dst.layout.quarantine, q.stored))).toBe(q.sha256)
    expect(await dataFiles(dst.layout.dataDir)).toEqual(valid.map((r) => r.path).sort())
    // only the invalid ones failed, once each (a quarantined file is not retried)
    const failed = dst.events.list({ types: ['sync_failed'] }).map((e) => e.path)
    expect(failed.sort()).toEqual(invalid.map((r) => r.path).sort())
  })
})
