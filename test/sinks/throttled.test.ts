import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SinkError } from '../../src/sinks/index.js'
import { S3Sink } from '../../src/sinks/s3.js'
import { S3_ENV } from './s3rver.js'

/** An S3 endpoint on loopback that answers every request with 503 SlowDown, as S3 does when throttling. */
describe('a throttling S3 endpoint', () => {
  let server: Server
  let requests = 0
  beforeAll(async () => {
    server = createServer((req, res) => {
      requests++
      req.resume()
      res.writeHead(503, { 'content-type': 'application/xml' })
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>1</RequestId></Error>')
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  })
  afterAll(async () => {
    await new Promise((r) => server.close(r))
  })

  it('is a transient, throttled SinkError naming the sink, after the SDK retried with backoff', async () => {
    const port = (server.address() as AddressInfo).port
    const sink = new S3Sink('cloud', { type: 's3', endpoint: `http://127.0.0.1:${port}`, bucket: 'backups', prefix: 'x', region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyIdEnv: 'S3_KEY', secretAccessKeyEnv: 'S3_SECRET' } }, { env: S3_ENV, maxAttempts: 2 })
    const err = await sink.put({ sha256: 'a'.repeat(64), size: 3, kind: 'other', chunkRoot: '' }, Readable.from([Buffer.from('abc')])).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SinkError)
    expect((err as SinkError).reason).toBe('throttled')
    expect((err as SinkError).transient).toBe(true)
    expect((err as SinkError).message).toMatch(/^sink 'cloud': .*SlowDown/)
    expect(requests).toBe(2)
    const probe = await sink.probe().catch((e: unknown) => e)
    expect((probe as SinkError).reason).toBe('throttled')
  })
})
