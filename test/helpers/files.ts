import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'

/** Large test files on disk: written from random bytes, hashed as a stream. */

const MiB = 1024 * 1024

/** A file of random bytes, written in 4 MiB blocks; returns its SHA-256. */
export async function randomFile(path: string, size: number): Promise<string> {
  const fh = await open(path, 'w')
  const h = createHash('sha256')
  try {
    for (let done = 0; done < size; ) {
      const b = randomBytes(Math.min(4 * MiB, size - done))
      h.update(b)
      await fh.write(b)
      done += b.length
    }
  } finally {
    await fh.close()
  }
  return h.digest('hex')
}

/** SHA-256 of a file, streamed in 4 MiB reads. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const c of createReadStream(path, { highWaterMark: 4 * MiB })) h.update(c as Buffer)
  return h.digest('hex')
}
