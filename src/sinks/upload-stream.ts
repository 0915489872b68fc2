import { createHash } from 'node:crypto'
import { constants } from 'node:fs'
import { open } from 'node:fs/promises'
import { Transform, type Readable } from 'node:stream'
import type { RateLimiter } from '../transfer/rate-limiter.js'
import { ValidationError } from '../util/errors.js'

/**
 * The bytes of a verified local file on their way to a sink: read without
 * following a symlink, paced by the node's upload limiter, and hashed as they
 * go. If they do not hash to the expected SHA-256 (the local copy rotted
 * since it was verified), the stream errors before its end, so the upload is
 * never completed and no wrong object is stored under that hash.
 */
export async function uploadStream(
  file: string,
  expect: { sha256: string; size: number },
  opts: { limiter?: RateLimiter; flow: string; weight: number; signal?: AbortSignal },
): Promise<Readable> {
  const hash = createHash('sha256')
  let size = 0
  const check = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.byteLength
      hash.update(chunk)
      const pass = (): void => cb(null, chunk)
      if (opts.limiter == null) return pass()
      opts.limiter.take(chunk.byteLength, opts.flow, opts.weight, opts.signal).then(pass, (err: unknown) => cb(err as Error))
    },
    flush(cb) {
      const got = hash.digest('hex')
      if (size !== expect.size || got !== expect.sha256) {
        cb(new ValidationError(`${file}: read ${size} bytes hashing to ${got.slice(0, 12)} for upload, expected ${expect.size} bytes ${expect.sha256.slice(0, 12)}; not uploaded`))
        return
      }
      cb()
    },
  })
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW)
  const src = fh.createReadStream({ signal: opts.signal, highWaterMark: 1024 * 1024 })
  src.on('error', (err) => check.destroy(err))
  return src.pipe(check)
}
