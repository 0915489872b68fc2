import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ManifestEntry } from '../../protocols/manifest/index.js'
import { indexKey, MAX_INDEX_BYTES, MAX_META_BYTES, type Sink, type SinkError } from '../../src/sinks/index.js'
import { initPathSink, PathSink } from '../../src/sinks/path.js'
import { indexOf } from '../../src/sinks/restore.js'
import { S3Sink } from '../../src/sinks/s3.js'
import { verifySinkCopy } from '../../src/sinks/verify.js'
import { type LocalS3, S3_ENV, startS3 } from './s3rver.js'

const SHA = 'c'.repeat(64)
const entry = (origin: string, sha256 = SHA): ManifestEntry => ({ path: 'games/a.db', sha256, size: 1, kind: 'sqlite', origin, version: 1, mtimeMs: 0, chunkRoot: 'b'.repeat(64), promoted: false })

async function listAll(sink: Sink): Promise<{ entries: ManifestEntry[]; refused: SinkError[] }> {
  const entries: ManifestEntry[] = []
  const refused: SinkError[] = []
  for await (const e of sink.listIndex({ onRefused: (err) => refused.push(err) })) entries.push(e)
  return { entries, refused }
}

/**
 * What a sink hands back is read with a bound: an index object or a blob's
 * metadata file over its maximum is refused (a SinkError naming the sink and
 * the key or file), never read whole; the rest of the listing goes on. Index
 * objects of two origins for the same path and version do not collide.
 */
describe('bounded reads of sink data, and index keys per origin', () => {
  let s3: LocalS3
  let dir: string
  beforeAll(async () => {
    s3 = await startS3()
    dir = await mkdtemp(join(tmpdir(), 'meshsync-bounded-'))
    await mkdir(join(dir, 'drive'))
    await initPathSink(join(dir, 'drive'))
  }, 30_000)
  afterAll(async () => {
    await s3.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('the index key names the origin, so two origins of one path and version are both kept (path and S3 sinks)', async () => {
    const a = entry('12D3KooWAAAA')
    const b = entry('12D3KooWBBBB', 'd'.repeat(64))
    expect(indexKey(a)).not.toBe(indexKey(b))
    // an origin that is not key-safe is hashed, not pasted into the key
    expect(indexKey(entry('../../x y'))).toMatch(/^index\/games\/a\.db@1\.h[0-9a-f]{32}\.json$/)
    const sinks = [new PathSink('drive', join(dir, 'drive')), new S3Sink('cloud', s3.sinkConfig({ prefix: 'collide' }), { env: S3_ENV })]
    for (const sink of sinks) {
      await sink.putIndex(a)
      await sink.putIndex(b)
      const { entries } = await listAll(sink)
      expect(entries.map((e) => e.origin).sort(), sink.name).toEqual(['12D3KooWAAAA', '12D3KooWBBBB'])
    }
    const index = await indexOf(sinks)
    expect([...index.values()].map((v) => v.entry.sha256).sort()).toEqual([SHA, 'd'.repeat(64)])
  })

  it('an S3 index object over the bound is refused by name, read with a Range, and the listing goes on', async () => {
    const cfg = s3.sinkConfig({ prefix: 'big' })
    const sink = new S3Sink('cloud', cfg, { env: S3_ENV })
    await sink.putIndex(entry('12D3KooWAAAA'))
    const client = new S3Client({ endpoint: cfg.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } })
    const big = `{"path":"games/b.db","pad":"${'x'.repeat(MAX_INDEX_BYTES)}"}`
    await client.send(new PutObjectCommand({ Bucket: cfg.bucket, Key: 'big/index/games/b.db@1.x.json', Body: big }))
    client.destroy()
    const { entries, refused } = await listAll(sink)
    expect(entries.map((e) => e.path)).toEqual(['games/a.db'])
    expect(refused).toHaveLength(1)
    expect(refused[0]!.message).toContain("sink 'cloud'")
    expect(refused[0]!.message).toContain('big/index/games/b.db@1.x.json')
    expect(refused[0]!.reason).toBe('corrupt')
  })

  it("a path sink's oversized index file and metadata file are refused by name, not read", async () => {
    const root = join(dir, 'drive')
    const sink = new PathSink('drive', root)
    await writeFile(join(root, 'index', 'games', 'huge.db@1.x.json'), 'x'.repeat(MAX_INDEX_BYTES + 1))
    const { refused } = await listAll(sink)
    expect(refused.map((e) => e.message).join('\n')).toContain('huge.db@1.x.json')

    const bytes = randomBytes(1000)
    const meta = { sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, kind: 'other', chunkRoot: '' }
    await sink.put(meta, Readable.from([bytes]))
    expect((await verifySinkCopy(sink, meta, { rehash: false })).ok).toBe(true)
    // the metadata file swollen past its bound (a sink is not trusted): the copy no longer verifies, and says why
    await writeFile(join(root, 'blobs', `${meta.sha256}.meta.json`), JSON.stringify({ ...meta, pad: 'x'.repeat(MAX_META_BYTES) }))
    const v = await verifySinkCopy(sink, meta, { rehash: false })
    expect(v.ok).toBe(false)
    expect(v.ok ? '' : v.reason).toContain('.meta.json')
    expect(v.ok ? '' : v.reason).toContain('over the 4096')
  })
})
