import { mkdir, open, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'

/**
 * Writes a file the way a well-behaved producer does: into `PATH.tmp` (which
 * meshsync never catalogs), then renamed into place, so the node only ever
 * sees the complete file under its final name.
 */
export async function writeAtomically(path: string, fill: (w: PositionalWriter) => Promise<void>): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const tmp = `${path}.tmp`
  const fh = await open(tmp, 'w')
  try {
    let offset = 0
    await fill({
      get offset() {
        return offset
      },
      async write(b: Uint8Array) {
        let done = 0
        while (done < b.length) {
          const { bytesWritten } = await fh.write(b, done, b.length - done, offset + done)
          done += bytesWritten
        }
        offset += b.length
      },
      async writeAt(b: Uint8Array, at: number) {
        await fh.write(b, 0, b.length, at)
      },
    })
    await fh.close()
  } catch (err) {
    await fh.close().catch(() => {})
    await rm(tmp, { force: true })
    throw err
  }
  await rename(tmp, path)
}

export interface PositionalWriter {
  readonly offset: number
  write(b: Uint8Array): Promise<void>
  writeAt(b: Uint8Array, at: number): Promise<void>
}

/** Random float32 values in [1, 2): random mantissa bits under a fixed exponent (never NaN or Inf). */
export function floatsFrom(random: Buffer): Buffer {
  const n = random.length >>> 2
  const u = new Uint32Array(random.buffer, random.byteOffset, n)
  for (let i = 0; i < n; i++) u[i] = (u[i]! & 0x007fffff) | 0x3f800000
  return random
}
