import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ManifestEntry } from '../../protocols/manifest/index.js'
import { type BlobMeta, type Sink, SinkError } from '../../src/sinks/index.js'
import { initPathSink, PathSink } from '../../src/sinks/path.js'
import { S3Sink } from '../../src/sinks/s3.js'
import { verifySinkCopy } from '../../src/sinks/verify.js'
import { type LocalS3, S3_ENV, startS3 } from './s3rver.js'

function blob(size: number): { bytes: Buffer; meta: BlobMeta } {
  const bytes = randomBytes(size)
  return { bytes, meta: { sha256: createHash('sha256').update(bytes).digest('hex'), size, kind: 'other', chunkRoot: 'ab'.repeat(32) } }
}

function entryFor(path: string, meta: BlobMeta, version = 1): ManifestEntry {
  return { path, sha256: meta.sha256, size: meta.size, kind: 'other', origin: 'peerA', version, mtimeMs: 1000, chunkRoot: meta.chunkRoot, promoted: false }
}

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of s) parts.push(c as Buffer)
  return Buffer.concat(parts)
}

async function reasonOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    if (err instanceof SinkError) return err.reason
    throw err
  }
  return 'no error'
}

/** Finds the file s3rver keeps an object's bytes in. */
async function s3rverObjectFile(dir: string, sha: string): Promise<string> {
  const all = (await readdir(dir, { recursive: true })).map(String)
  const hit = all.find((f) => f.includes(sha) && f.endsWith('._S3rver_object'))
  if (hit == null) throw new Error(`no s3rver file for ${sha}`)
  return join(dir, hit)
}

describe('sinks against a real S3 server (s3rver) and a real folder', () => {
  let s3: LocalS3
  let folder: string
  const sinks: Record<string, () => Sink> = {}

  beforeAll(async () => {
    s3 = await startS3()
    folder = await mkdtemp(join(tmpdir(), 'meshsync-pathsink-'))
    await mkdir(join(folder, 'drive'))
    await initPathSink(join(folder, 'drive'))
    sinks.s3 = () => new S3Sink('cloud', s3.sinkConfig(), { env: S3_ENV, partSize: 5 * 1024 * 1024 })
    sinks.path = () => new PathSink('drive', join(folder, 'drive'))
  })
  afterAll(async () => {
    await s3.close()
    await rm(folder, { recursive: true, force: true })
  })

  for (const type of ['s3', 'path'] as const) {
    it(`${type}: put, head, get, verify with re-hash, index round trip (0 bytes, 1 byte, multipart)`, async () => {
      const sink = sinks[type]!()
      await sink.probe()
      const sizes = [0, 1, 11 * 1024 * 1024 + 3]
      for (const [i, size] of sizes.entries()) {
        const { bytes, meta } = blob(size)
        await sink.put(meta, Readable.from([bytes]))
        expect(await sink.head(meta.sha256)).toEqual({ size, sha256: meta.sha256 })
        expect((await collect(await sink.get(meta.sha256))).equals(bytes)).toBe(true)
        expect(await verifySinkCopy(sink, meta, { rehash: true })).toEqual({ ok: true, rehashed: true })
        await sink.putIndex(entryFor(`games/g${i}.db`, meta))
      }
      const listed: ManifestEntry[] = []
      for await (const e of sink.listIndex()) listed.push(e)
      expect(listed.map((e) => e.path).sort()).toEqual(['games/g0.db', 'games/g1.db', 'games/g2.db'])
      expect(await sink.head('0'.repeat(64))).toBeUndefined()
      expect(await reasonOf(sink.get('0'.repeat(64)))).toBe('missing')
    })
  }

  it('s3: an object altered in the bucket passes the metadata check but fails the re-hash', async () => {
    const sink = sinks.s3!()
    const { bytes, meta } = blob(4096)
    await sink.put(meta, Readable.from([bytes]))
    expect(await verifySinkCopy(sink, meta, { rehash: true })).toMatchObject({ ok: true })
    const file = await s3rverObjectFile(s3.dir, meta.sha256)
    const b = await readFile(file)
    b[100] = b[100]! ^ 0xff
    await writeFile(file, b)
    expect(await verifySinkCopy(sink, meta, { rehash: false })).toMatchObject({ ok: true })
    const r = await verifySinkCopy(sink, meta, { rehash: true })
    expect(r.ok).toBe(false)
    expect(r.ok === false && r.reason).toMatch(/sink 'cloud'.*re-hashed/)
  })

  it('path: an altered blob fails the re-hash; a truncated one fails the size check', async () => {
    const sink = sinks.path!()
    const { bytes, meta } = blob(2048)
    await sink.put(meta, Readable.from([bytes]))
    const file = join(folder, 'drive', 'blobs', meta.sha256)
    const b = Buffer.from(bytes)
    b[7] = b[7]! ^ 1
    await writeFile(file, b)
    expect((await verifySinkCopy(sink, meta, { rehash: true })).ok).toBe(false)
    await writeFile(file, bytes.subarray(0, 100))
    expect((await verifySinkCopy(sink, meta, { rehash: false })).ok).toBe(false)
  })

  it('s3 failures name the sink: wrong credentials, missing bucket, endpoint down and back', async () => {
    const bad = new S3Sink('cloud', s3.sinkConfig(), { env: { S3_KEY: 'WRONG', S3_SECRET: 'WRONG' }, maxAttempts: 1 })
    expect(await reasonOf(bad.probe())).toBe('credentials')
    const noEnv = (): S3Sink => new S3Sink('cloud', s3.sinkConfig(), { env: {} })
    expect(noEnv).toThrow(/sink 'cloud'.*S3_KEY/)
    const nobucket = new S3Sink('cloud', s3.sinkConfig({ bucket: 'nope-bucket' }), { env: S3_ENV, maxAttempts: 1 })
    expect(await reasonOf(nobucket.probe())).toBe('bucket')
    const sink = new S3Sink('cloud', s3.sinkConfig(), { env: S3_ENV, maxAttempts: 1 })
    await sink.probe()
    await s3.stop()
    try {
      const err = await sink.probe().catch((e: unknown) => e)
      expect(err).toBeInstanceOf(SinkError)
      expect((err as SinkError).reason).toBe('unreachable')
      expect((err as SinkError).message).toMatch(/sink 'cloud'/)
      expect((err as SinkError).transient).toBe(true)
    } finally {
      await s3.start()
    }
    await sink.probe()
  })

  it('path: refuses a folder without the marker (an unmounted mount point) and writes nothing there', async () => {
    const bare = join(folder, 'not-mounted')
    const sink = new PathSink('drive', bare)
    const { bytes, meta } = blob(10)
    expect(await reasonOf(sink.put(meta, Readable.from([bytes])))).toBe('unmounted')
    expect(await readdir(folder)).not.toContain('not-mounted')
    // setting it up never creates the folder either
    await expect(initPathSink(bare)).rejects.toThrow(/not an existing folder/)
    expect(await readdir(folder)).not.toContain('not-mounted')
  })
})
