import { createHash } from 'node:crypto'
import type { SinkConfig } from './config.js'
import type { BlobMeta, Sink, SinkCallOptions } from './index.js'
import { PathSink } from './path.js'
import { S3Sink, type S3SinkOptions } from './s3.js'

export type VerifyResult = { ok: true; rehashed: boolean } | { ok: false; reason: string; /** The metadata matched but the bytes did not. */ rehashed: boolean }

/**
 * Checks a sink copy: the object's size and the SHA-256 stored with it must
 * be the file's. With `rehash` the bytes are downloaded and hashed as well,
 * so a sink that keeps the metadata but lost or changed the bytes is caught.
 * A SinkError (sink unreachable...) is thrown, not turned into a verdict:
 * an unreachable sink proves nothing either way.
 */
export async function verifySinkCopy(sink: Sink, meta: BlobMeta, opts: SinkCallOptions & { rehash: boolean }): Promise<VerifyResult> {
  const head = await sink.head(meta.sha256, opts)
  if (head == null) return { ok: false, rehashed: false, reason: `sink '${sink.name}' holds no blob ${meta.sha256.slice(0, 12)}` }
  if (head.size !== meta.size) return { ok: false, rehashed: false, reason: `sink '${sink.name}' blob ${meta.sha256.slice(0, 12)} is ${head.size} bytes, expected ${meta.size}` }
  if (head.problem != null) return { ok: false, rehashed: false, reason: `sink '${sink.name}' blob ${meta.sha256.slice(0, 12)}: ${head.problem}` }
  if (head.sha256 !== meta.sha256) return { ok: false, rehashed: false, reason: `sink '${sink.name}' blob ${meta.sha256.slice(0, 12)} records checksum ${String(head.sha256).slice(0, 12)}` }
  if (!opts.rehash) return { ok: true, rehashed: false }
  const body = await sink.get(meta.sha256, opts)
  const h = createHash('sha256')
  let size = 0
  for await (const chunk of body) {
    const b = chunk as Buffer
    size += b.byteLength
    if (size > meta.size) {
      body.destroy()
      return { ok: false, rehashed: true, reason: `sink '${sink.name}' blob ${meta.sha256.slice(0, 12)} returned more than ${meta.size} bytes` }
    }
    h.update(b)
  }
  const got = h.digest('hex')
  if (size !== meta.size || got !== meta.sha256) {
    return { ok: false, rehashed: true, reason: `sink '${sink.name}' blob ${meta.sha256.slice(0, 12)} re-hashed to ${got.slice(0, 12)} (${size} bytes)` }
  }
  return { ok: true, rehashed: true }
}

/** Opens the sink a config entry describes. */
export function openSink(name: string, cfg: SinkConfig, opts: S3SinkOptions = {}): Sink {
  return cfg.type === 's3' ? new S3Sink(name, cfg, opts) : new PathSink(name, cfg.path)
}
