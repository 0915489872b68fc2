import { createReadStream } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { join, relative, sep } from 'node:path'
import picomatch from 'picomatch'
import { STATE_DIR_NAME } from '../../src/node/layout.js'

/** Names a producer or meshsync uses while a file is not final (never under a final name). */
const NOT_FINAL = picomatch(['**/*.tmp', '**/*.partial', '**/*.part', '**/*-journal', '**/*-wal', '**/*-shm', '**/.*'], { dot: true })

export interface DiskFile {
  /** Relative to the data dir, with forward slashes. */
  path: string
  size: number
  sha256: string
}

/**
 * Hashes every file under its final name in a data dir (meshsync's own
 * folder and files still being written excluded). Remembers hashes by
 * (path, size, mtime, inode), so re-scanning a data dir every few seconds
 * only reads what changed.
 */
export class DiskScanner {
  readonly #cache = new Map<string, { key: string; sha256: string }>()

  async scan(dataDir: string): Promise<DiskFile[]> {
    const out: DiskFile[] = []
    await this.#walk(dataDir, dataDir, out)
    return out.sort((a, b) => a.path.localeCompare(b.path))
  }

  async #walk(root: string, dir: string, out: DiskFile[]): Promise<void> {
    let entries: import('node:fs').Dirent[]
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      const abs = join(dir, e.name)
      const rel = relative(root, abs).split(sep).join('/')
      if (dir === root && e.name === STATE_DIR_NAME) continue
      if (e.isDirectory()) {
        await this.#walk(root, abs, out)
        continue
      }
      if (!e.isFile() || NOT_FINAL(rel)) continue
      try {
        const s = await stat(abs)
        const key = `${s.size}:${s.mtimeMs}:${s.ino}`
        const hit = this.#cache.get(abs)
        const sha256 = hit?.key === key ? hit.sha256 : await hashFile(abs)
        this.#cache.set(abs, { key, sha256 })
        out.push({ path: rel, size: s.size, sha256 })
      } catch {
        // removed while we looked (cleanup, a rename): not there
      }
    }
  }
}

export async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer)
  return h.digest('hex')
}
