import { createHash, randomBytes } from 'node:crypto'
import { open, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A random file of `mib` MiB, kept in the temp folder between runs (with its hash beside it). */
export async function testFile(mib: number): Promise<string> {
  const path = join(tmpdir(), `meshsync-bench-${mib}MiB.bin`)
  try {
    await stat(`${path}.sha256`)
    return path
  } catch {
    // make it
  }
  const fh = await open(path, 'w')
  const hash = createHash('sha256')
  for (let i = 0; i < mib; i++) {
    const b = randomBytes(1024 * 1024)
    hash.update(b)
    await fh.write(b)
  }
  await fh.close()
  await writeFile(`${path}.sha256`, hash.digest('hex'))
  return path
}
