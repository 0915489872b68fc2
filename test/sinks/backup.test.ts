import { randomBytes } from 'node:crypto'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeFacts } from '../../src/replication/placement.js'
import { S3Sink } from '../../src/sinks/s3.js'
import { chooseUploader } from '../../src/sinks/uploader.js'
import { verifySinkCopy } from '../../src/sinks/verify.js'
import { ManualClock } from '../../src/util/clock.js'
import { type BackupNode, backupNode, facts } from './harness.js'
import { type LocalS3, S3_ENV, startS3 } from './s3rver.js'

async function s3rverObjectFile(dir: string, sha: string): Promise<string> {
  const all = (await readdir(dir, { recursive: true })).map(String)
  const hit = all.find((f) => f.includes(sha) && f.endsWith('._S3rver_object'))
  if (hit == null) throw new Error(`no s3rver file for ${sha}`)
  return join(dir, hit)
}

const types = (n: BackupNode, t: string): number => n.emitted.filter((e) => e.type === t).length

describe('backup loop against s3rver on loopback', () => {
  let s3: LocalS3
  beforeAll(async () => {
    s3 = await startS3()
  })
  afterAll(async () => {
    await s3.close()
  })

  it('two holders of the same files: each file is uploaded once, by the chosen holder; both count the verified copy', async () => {
    const clock = new ManualClock()
    const sinks = new Map([['cloud', new S3Sink('cloud', s3.sinkConfig({ prefix: 'once' }), { env: S3_ENV })]])
    const nodes = new Map<string, NodeFacts>([
      ['peerA', facts('peerA', ['cloud'])],
      ['peerB', facts('peerB', ['cloud'])],
    ])
    const holders = (): string[] => ['peerA', 'peerB']
    const a = await backupNode({ peerId: 'peerA', sinks, clock, holders, nodes: () => nodes })
    const b = await backupNode({ peerId: 'peerB', sinks, clock, holders, nodes: () => nodes })
    const files = [Buffer.alloc(0), randomBytes(1), randomBytes(300_000), randomBytes(6 * 1024 * 1024 + 5)]
    const shas: string[] = []
    for (const [i, bytes] of files.entries()) {
      await a.addFile(`data/f${i}.bin`, bytes)
      shas.push((await b.addFile(`data/f${i}.bin`, bytes)).sha256)
    }
    const signal = new AbortController().signal
    // B first: for files A is chosen for, B uploads nothing and records nothing yet
    await b.backup.run(signal)
    await a.backup.run(signal)
    // a holder that found no copy asks again only after a minute, not every tick
    await clock.advance(61_000)
    await b.backup.run(signal)
    const uploads = types(a, 'backup_completed') + types(b, 'backup_completed')
    expect(uploads).toBe(files.length)
    for (const sha of shas) {
      const chosen = chooseUploader(sha, 'cloud', holders(), nodes)
      const by = (chosen === 'peerA' ? a : b).emitted.filter((e) => e.type === 'backup_completed' && e.sha256 === sha)
      expect(by).toHaveLength(1)
      expect(a.store.verifiedSinks(sha, files[shas.indexOf(sha)]!.length, clock.now(), 3600_000)).toEqual(['cloud'])
      expect(b.store.verifiedSinks(sha, files[shas.indexOf(sha)]!.length, clock.now(), 3600_000)).toEqual(['cloud'])
    }
    // a second round uploads nothing more
    await clock.advance(10_000)
    await a.backup.run(signal)
    await b.backup.run(signal)
    expect(types(a, 'backup_completed') + types(b, 'backup_completed')).toBe(files.length)
    expect(a.backup.reachable()).toEqual(['cloud'])
  })

  it('the chosen uploader going down hands the upload to the next holder', async () => {
    const nodes = new Map<string, NodeFacts>([
      ['peerA', facts('peerA', ['cloud'])],
      ['peerB', facts('peerB', ['cloud'])],
    ])
    const sha = 'ab'.repeat(32)
    const first = chooseUploader(sha, 'cloud', ['peerA', 'peerB'], nodes)!
    const other = first === 'peerA' ? 'peerB' : 'peerA'
    nodes.set(first, facts(first, ['cloud'], 'down'))
    expect(chooseUploader(sha, 'cloud', ['peerA', 'peerB'], nodes)).toBe(other)
    // a holder that cannot reach the sink is never chosen
    nodes.set(first, facts(first, []))
    expect(chooseUploader(sha, 'cloud', ['peerA', 'peerB'], nodes)).toBe(other)
    nodes.set(other, facts(other, []))
    expect(chooseUploader(sha, 'cloud', ['peerA', 'peerB'], nodes)).toBeUndefined()
    // the origin, when it holds the file and can reach the sink, is chosen whatever the ranking
    nodes.set('peerA', facts('peerA', ['cloud']))
    nodes.set('peerB', facts('peerB', ['cloud']))
    expect(chooseUploader(sha, 'cloud', ['peerA', 'peerB'], nodes, other)).toBe(other)
    expect(chooseUploader(sha, 'cloud', ['peerA', 'peerB'], nodes, first)).toBe(first)
    nodes.set(first, facts(first, ['cloud'], 'suspect'))
    expect(chooseUploader(sha, 'cloud', ['peerA', 'peerB'], nodes, first)).toBe(other)
  })

  it('an object altered in the bucket is caught by the scheduled re-hash and no longer counts; a rotted local copy is never uploaded over it', async () => {
    const clock = new ManualClock()
    const sink = new S3Sink('cloud', s3.sinkConfig({ prefix: 'altered' }), { env: S3_ENV })
    const sinks = new Map([['cloud', sink]])
    const nodes = new Map<string, NodeFacts>([['peerA', facts('peerA', ['cloud'])]])
    const a = await backupNode({ peerId: 'peerA', sinks, clock, holders: () => ['peerA'], nodes: () => nodes, rehashIntervalMs: 60_000 })
    const bytes = randomBytes(100_000)
    const f = await a.addFile('models/m.bin', bytes)
    const signal = new AbortController().signal
    await a.backup.run(signal)
    expect(a.store.verifiedSinks(f.sha256, f.size, clock.now(), 3600_000)).toEqual(['cloud'])
    const obj = await s3rverObjectFile(s3.dir, f.sha256)
    const altered = await readFile(obj)
    altered[5000] = altered[5000]! ^ 0x55
    await writeFile(obj, altered)
    // the local copy rots too, so the uploader cannot repair it
    const local = Buffer.from(bytes)
    local[1] = local[1]! ^ 1
    await writeFile(join(a.dataDir, 'models/m.bin'), local)
    await clock.advance(61_000)
    await a.backup.run(signal)
    expect(a.emitted.some((e) => e.type === 'backup_failed' && e.sha256 === f.sha256 && e.data?.detected === 'verification' && e.data?.sink === 'cloud')).toBe(true)
    expect(a.store.verifiedSinks(f.sha256, f.size, clock.now(), 3600_000)).toEqual([])
    expect(a.emitted.some((e) => e.type === 'backup_failed' && String(e.data?.reason).includes('not uploaded'))).toBe(true)
    // not replaced by rotten bytes: the corrupt object is removed, so no holder counts it from its metadata
    expect(await sink.head(f.sha256)).toBeUndefined()
    // the local copy repaired: the next round uploads the true bytes again, and it counts
    await writeFile(join(a.dataDir, 'models/m.bin'), bytes)
    await a.backup.run(signal)
    expect(await verifySinkCopy(sink, { sha256: f.sha256, size: f.size, kind: 'other', chunkRoot: f.chunkRoot }, { rehash: true })).toMatchObject({ ok: true })
    expect(a.store.verifiedSinks(f.sha256, f.size, clock.now(), 3600_000)).toEqual(['cloud'])
  })

  it('the sink going down and coming back: backup_failed naming the sink, backoff, then the upload completes', async () => {
    const clock = new ManualClock()
    const sinks = new Map([['cloud', new S3Sink('cloud', s3.sinkConfig({ prefix: 'downup' }), { env: S3_ENV, maxAttempts: 1 })]])
    const nodes = new Map<string, NodeFacts>([['peerA', facts('peerA', ['cloud'])]])
    const a = await backupNode({ peerId: 'peerA', sinks, clock, holders: () => ['peerA'], nodes: () => nodes })
    const f = await a.addFile('games/g.db', randomBytes(5000))
    const signal = new AbortController().signal
    await s3.stop()
    try {
      await a.backup.run(signal)
      expect(a.backup.reachable()).toEqual([])
      const st = a.backup.status()[0]!
      expect(st).toMatchObject({ name: 'cloud', reachable: false, reason: 'unreachable', failures: 1 })
      expect(a.emitted.find((e) => e.type === 'backup_failed')?.data).toMatchObject({ sink: 'cloud', reason: 'unreachable' })
      expect(a.store.verifiedSinks(f.sha256, f.size, clock.now(), 3600_000)).toEqual([])
    } finally {
      await s3.start()
    }
    // within the backoff nothing is tried
    await a.backup.run(signal)
    expect(a.backup.status()[0]!.failures).toBe(1)
    await clock.advance(1500)
    await a.backup.run(signal)
    expect(a.backup.reachable()).toEqual(['cloud'])
    expect(types(a, 'backup_completed')).toBe(1)
    expect(a.store.verifiedSinks(f.sha256, f.size, clock.now(), 3600_000)).toEqual(['cloud'])
  })
})
