import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { S3Sink } from '../../src/sinks/s3.js'
import { verifySinkCopy } from '../../src/sinks/verify.js'
import { type LocalS3, S3_ENV, startS3 } from './s3rver.js'

/**
 * A multipart upload cut off after some parts (the uploader's signal aborted,
 * as on a stop) leaves no object under the blob's key, so nothing counts; the
 * next attempt uploads it from the start and it verifies.
 */
describe('an upload interrupted mid-multipart', () => {
  let s3: LocalS3
  beforeAll(async () => {
    s3 = await startS3()
  })
  afterAll(async () => {
    await s3.close()
  })

  it('leaves no object, and the retry completes and verifies', async () => {
    const sink = new S3Sink('cloud', s3.sinkConfig({ prefix: 'cut' }), { env: S3_ENV, partSize: 5 * 1024 * 1024 })
    const bytes = randomBytes(16 * 1024 * 1024)
    const meta = { sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, kind: 'other', chunkRoot: '' }
    const ac = new AbortController()
    let sent = 0
    // a source that stalls after 11 MiB (two parts out), then the uploader stops
    const slow = Readable.from(
      (async function* () {
        for (let off = 0; off < bytes.length; off += 1024 * 1024) {
          if (off >= 11 * 1024 * 1024) {
            setTimeout(() => ac.abort(), 200)
            await new Promise((r) => setTimeout(r, 5_000))
          }
          sent += 1024 * 1024
          yield bytes.subarray(off, off + 1024 * 1024)
        }
      })(),
    )
    const err = await sink.put(meta, slow, { signal: ac.signal }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Error)
    expect(sent).toBeLessThan(bytes.length)
    expect(await sink.head(meta.sha256)).toBeUndefined()
    expect((await verifySinkCopy(sink, meta, { rehash: false })).ok).toBe(false)

    await sink.put(meta, Readable.from([bytes]))
    expect(await verifySinkCopy(sink, meta, { rehash: true })).toEqual({ ok: true, rehashed: true })
  }, 60_000)
})
