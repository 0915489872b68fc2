import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import S3rver from 's3rver'
import { digestFile } from '../../src/catalog/hasher.js'
import { S3Sink } from '../../src/sinks/s3.js'
import { uploadStream } from '../../src/sinks/upload-stream.js'
import { verifySinkCopy } from '../../src/sinks/verify.js'
import { benchArgs } from './args.js'
import { round } from './stats.js'
import { testFile } from './test-file.js'

/**
 * Backup sink throughput against a local S3 server (s3rver on 127.0.0.1):
 * the sink's upload (read hashed on the way, multipart, metadata, read-back
 * verification) next to a plain AWS SDK multipart upload of the same file
 * with the same part size, and the sink's restore download (to a staging
 * file, then chunk digest) next to a plain SDK GetObject to a file. s3rver
 * stores on local disk, so this measures meshsync's overhead, not a network.
 *
 *   npm run bench -- sinks [--mib 64] [--runs 3]
 */
export async function run(argv: string[]): Promise<void> {
  const { num } = benchArgs(argv)
  const mib = num('mib', 64)
  const runs = num('runs', 3)
  const path = await testFile(mib)
  const sha256 = (await readFile(`${path}.sha256`, 'utf8')).trim()
  const size = mib * 1024 * 1024
  const dir = await mkdtemp(join(tmpdir(), 'meshsync-bench-sinks-'))
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: join(dir, 's3'), configureBuckets: [{ name: 'bench' }] })
  const { port } = await server.run()
  const endpoint = `http://127.0.0.1:${port}`
  const env = { BENCH_KEY: 'S3RVER', BENCH_SECRET: 'S3RVER' }
  const partSize = 8 * 1024 * 1024
  const sink = new S3Sink('bench', { type: 's3', endpoint, bucket: 'bench', prefix: 'b', region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyIdEnv: 'BENCH_KEY', secretAccessKeyEnv: 'BENCH_SECRET' } }, { env, partSize })
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } })
  const meta = { sha256, size, kind: 'other', chunkRoot: '' }
  const out = join(dir, 'out.bin')
  const ways: Record<string, () => Promise<void>> = {
    'upload: plain SDK multipart (baseline)': async () => {
      await new Upload({ client, partSize, queueSize: 2, params: { Bucket: 'bench', Key: 'plain/file', Body: createReadStream(path) } }).done()
    },
    'upload: sink (hashed, metadata, read-back)': async () => {
      await sink.put(meta, await uploadStream(path, meta, { flow: 'bench', weight: 1 }))
      const v = await verifySinkCopy(sink, meta, { rehash: false })
      if (!v.ok) throw new Error(v.reason)
    },
    'download: plain SDK GetObject to a file (baseline)': async () => {
      const r = await client.send(new GetObjectCommand({ Bucket: 'bench', Key: 'plain/file' }))
      await pipeline(r.Body as NodeJS.ReadableStream, createWriteStream(out))
    },
    'restore: sink get to staging + chunk digest': async () => {
      await pipeline(await sink.get(sha256), createWriteStream(out))
      const d = await digestFile(out)
      if (d.sha256 !== sha256) throw new Error('restored bytes differ')
    },
  }
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(ways).map((k) => [k, []]))
  process.stderr.write(`sinks bench: ${mib} MiB file ${sha256.slice(0, 12)}, s3rver on ${endpoint}, ${runs} runs each, interleaved\n`)
  try {
    for (let r = 0; r < runs; r++) {
      for (const [name, fn] of Object.entries(ways)) {
        const t0 = performance.now()
        await fn()
        times[name]!.push(performance.now() - t0)
      }
    }
  } finally {
    sink.close()
    client.destroy()
    await server.close()
    await rm(dir, { recursive: true, force: true })
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!
  const rows = Object.entries(times).map(([name, t]) => ({ name, ms: median(t), mbps: size / 1e6 / (median(t) / 1000) }))
  process.stdout.write(`\n| ${mib} MiB to s3rver on loopback, median of ${runs} | ms | MB/s |\n|---|---|---|\n`)
  for (const r of rows) process.stdout.write(`| ${r.name} | ${Math.round(r.ms)} | ${round(r.mbps)} |\n`)
  process.stdout.write(`\n${JSON.stringify({ bench: 'sinks', sizeMiB: mib, runs, mbps: Object.fromEntries(rows.map((r) => [r.name, round(r.mbps)])) })}\n`)
}
