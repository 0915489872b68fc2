import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ProcessNode } from '../../sim/harness/process-node.js'
import { S3Sink } from '../../src/sinks/s3.js'
import { verifySinkCopy } from '../../src/sinks/verify.js'
import { requireBuild } from '../cli/support.js'
import { type LocalS3, startS3 } from './s3rver.js'

const MIB = 1024 * 1024

/** s3rver keeps each open multipart upload as a folder `<bucket>/._S3rver_uploads/<uploadId>/` with a `key` file and one file per part. */
async function openUploads(s3dir: string): Promise<{ id: string; key: string; parts: number }[]> {
  const root = join(s3dir, 'backups', '._S3rver_uploads')
  let ids: string[]
  try {
    ids = await readdir(root)
  } catch {
    return []
  }
  const out: { id: string; key: string; parts: number }[] = []
  for (const id of ids) {
    const files = await readdir(join(root, id)).catch(() => [] as string[])
    const key = await readFile(join(root, id, 'key'), 'utf8').catch(() => '')
    out.push({ id, key, parts: files.filter((f) => /^\d+$/.test(f)).length })
  }
  return out
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await fn().catch(() => undefined)
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/**
 * A real node process uploading a 64 MiB file to S3 (s3rver on loopback),
 * paced by its upload cap so that the kill -9 lands mid-multipart. After a
 * restart on the same data dir the node uploads it again from the start: the
 * object exists once and verifies (size, stored checksum, bytes re-hashed).
 * s3rver implements neither ListMultipartUploads nor AbortMultipartUpload, so
 * the killed upload's parts stay on its disk (a real bucket's leftovers are
 * aborted by the sink once the blob is complete; a lifecycle rule otherwise):
 * the test checks that exactly that one upload is left, none of the restart's.
 */
describe('an uploader killed with kill -9 mid-multipart', () => {
  let s3: LocalS3
  let dir: string
  let node: ProcessNode | undefined

  beforeAll(async () => {
    requireBuild()
    s3 = await startS3()
    dir = await mkdtemp(join(tmpdir(), 'meshsync-killed-upload-'))
  }, 30_000)
  afterAll(async () => {
    if (node?.running === true) node.kill()
    await node?.exited
    await s3?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('restarts cleanly: the object exists once and verifies, and no upload of the restart is left open', async () => {
    const creds = join(dir, 's3.json')
    await writeFile(creds, JSON.stringify({ accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }), { mode: 0o600 })
    const sinkCfg = s3.sinkConfig({ prefix: 'kill', credentials: { file: creds } })
    const dataDir = join(dir, 'node')
    await mkdir(join(dataDir, 'other'), { recursive: true })
    const bytes = randomBytes(64 * MIB)
    const sha256 = createHash('sha256').update(bytes).digest('hex')
    await writeFile(join(dataDir, 'other', 'big.bin'), bytes)
    const start = () =>
      ProcessNode.start({
        name: 'uploader',
        dataDir,
        logFile: join(dir, 'node.log'),
        settings: {
          'node.role': 'storage',
          'catalog.stableSeconds': 0.5,
          'replication.backpressureLoad': 1000,
          // 64 MiB at 8 MB/s: about 8 s, 8 parts of 8 MiB
          'bandwidth.upload': '8MB/s',
          sinks: { intervalSeconds: 0.5, cloud: sinkCfg },
          policies: { all: { minCopies: 1, maxCopies: 1, backup: ['cloud'] } },
        },
        startTimeoutMs: 60_000,
      })
    node = await start()
    const key = `kill/blobs/${sha256}`
    // kill -9 once two parts are on the server, well before the last
    const killed = await until('two parts of the upload on the server', async () => (await openUploads(s3.dir)).find((u) => u.key === key && u.parts >= 2), 90_000)
    node.kill()
    await node.exited
    const sink = new S3Sink('cloud', sinkCfg)
    const meta = { sha256, size: bytes.length, kind: 'other', chunkRoot: '' }
    // nothing was completed: no object, so no copy counts
    expect(await sink.head(sha256)).toBeUndefined()

    node = await start()
    await until('the blob verified in the bucket', async () => (await verifySinkCopy(sink, meta, { rehash: false })).ok || undefined, 120_000)
    expect(await verifySinkCopy(sink, meta, { rehash: true })).toEqual({ ok: true, rehashed: true })
    const client = new S3Client({ endpoint: sinkCfg.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } })
    const listed = await client.send(new ListObjectsV2Command({ Bucket: sinkCfg.bucket, Prefix: 'kill/blobs/' }))
    expect((listed.Contents ?? []).map((o) => o.Key)).toEqual([key])
    // s3rver has no ListMultipartUploads: what the sink's cleanup of leftovers can do against it is nothing
    const listing = await client.send(new ListMultipartUploadsCommand({ Bucket: sinkCfg.bucket })).catch((e: unknown) => e as Error)
    expect(listing).toBeInstanceOf(Error)
    client.destroy()
    sink.close()
    // so on its disk: the killed upload is still open, and the restart's upload was completed (none of its own left)
    const left = await openUploads(s3.dir)
    expect(left.map((u) => u.id)).toEqual([killed.id])
    node.kill()
    await node.exited
  }, 240_000)
})
