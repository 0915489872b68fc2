import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs'
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
 *
 * Synchronous on purpose: in-process, 50 nodes keep the one event loop so
 * busy that every await waits a second or more, and a scan of 50 data dirs
 * made of hundreds of small awaits took minutes. The sync calls cost
 * milliseconds and block the nodes only for that long.
 */
export class DiskScanner {
  readonly #cache = new Map<string, { key: string; sha256: string }>()

  async scan(dataDir: string): Promise<DiskFile[]> {
    const out: DiskFile[] = []
    this.#walk(dataDir, dataDir, out)
    return out.sort((a, b) => a.path.localeCompare(b.path))
  }

  #walk(root: string, dir: string, out: DiskFile[]): void {
    let entries: import('node:fs').Dirent[]
    try {
      entries = readdirSync(dir, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      const abs = join(dir, e.name)
      const rel = relative(root, abs).split(sep).join('/')
      if (dir === root && e.name === STATE_DIR_NAME) continue
      if (e.isDirectory()) {
        this.#walk(root, abs, out)
        continue
      }
      if (!e.isFile() || NOT_FINAL(rel)) continue
      try {
        const s = statSync(abs)
        const key = `${s.size}:${s.mtimeMs}:${s.ino}`
        const hit = this.#cache.get(abs)
        const sha256 = hit?.key === key ? hit.sha256 : hashFileSync(abs)
        this.#cache.set(abs, { key, sha256 })
        out.push({ path: rel, size: s.size, sha256 })
      } catch {
        // removed while we looked (cleanup, a rename): not there
      }
    }
  }
}

export async function hashFile(path: string): Promise<string> {
  return hashFileSync(path)
}

/** SHA-256 of a file, read synchronously 1 MiB at a time (see DiskScanner for why not async). */
export function hashFileSync(path: string): string {
  const h = createHash('sha256')
  const buf = Buffer.allocUnsafe(1 << 20)
  const fd = openSync(path, 'r')
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null)
      if (n === 0) break
      h.update(buf.subarray(0, n))
    }
  } finally {
    closeSync(fd)
  }
  return h.digest('hex')
}
