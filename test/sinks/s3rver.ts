import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import S3rver from 's3rver'
import type { S3SinkConfig } from '../../src/sinks/config.js'

/** A real S3-compatible server (s3rver) on 127.0.0.1, a port the OS picks, data in a temp dir. */
export interface LocalS3 {
  endpoint: string
  dir: string
  port: number
  /** Stops the server (the sink is then unreachable); `start` brings it back on the same port and data. */
  stop(): Promise<void>
  start(): Promise<void>
  close(): Promise<void>
  sinkConfig(over?: Partial<S3SinkConfig>): S3SinkConfig
}

export const S3_ENV = { S3_KEY: 'S3RVER', S3_SECRET: 'S3RVER' }

export async function startS3(bucket = 'backups'): Promise<LocalS3> {
  const dir = await mkdtemp(join(tmpdir(), 'meshsync-s3rver-'))
  let port = 0
  let server: S3rver | undefined
  const start = async (): Promise<void> => {
    server = new S3rver({ address: '127.0.0.1', port, silent: true, directory: dir, configureBuckets: [{ name: bucket }] })
    const addr = await server.run()
    port = addr.port
  }
  await start()
  const stop = async (): Promise<void> => {
    await server?.close()
    server = undefined
  }
  const self: LocalS3 = {
    get endpoint() {
      return `http://127.0.0.1:${port}`
    },
    dir,
    get port() {
      return port
    },
    stop,
    start,
    async close() {
      await stop()
      await rm(dir, { recursive: true, force: true })
    },
    sinkConfig(over = {}) {
      return {
        type: 's3',
        endpoint: `http://127.0.0.1:${port}`,
        bucket,
        prefix: 'cluster-a',
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyIdEnv: 'S3_KEY', secretAccessKeyEnv: 'S3_SECRET' },
        ...over,
      }
    },
  }
  return self
}
