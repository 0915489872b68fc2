import { constants, fsync, type Stats } from 'node:fs'
import { mkdir, open, rename, rm, lstat } from 'node:fs/promises'
import { dirname, join, sep } from 'node:path'
import { relativePathProblem } from '../../protocols/common/path.js'
import { UnsafePathError } from './errors.js'

/** fsync a directory so a rename or create inside it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY)
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/**
 * Writes a file so that it is either absent or whole under its final name:
 * temp file in the same folder, fsync, rename, fsync of the folder.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true })
  const tmp = join(dir, `.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`)
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } catch (err) {
    await fh.close()
    await rm(tmp, { force: true })
    throw err
  }
  await fh.close()
  await rename(tmp, path)
  await fsyncDir(dir)
}

export { relativePathProblem }

export function assertRelativePath(path: string, what: string): void {
  const problem = relativePathProblem(path)
  if (problem != null) throw new UnsafePathError(`${what}: ${problem}: ${JSON.stringify(path).slice(0, 200)}`)
}

/**
 * Makes sure every folder between `root` and `root/rel`'s parent exists and is
 * a real folder, not a symlink (a symlink in any part could lead outside the
 * data dir). Creates missing folders. Returns the absolute target path.
 */
export async function prepareTarget(root: string, rel: string): Promise<string> {
  assertRelativePath(rel, 'target')
  const parts = rel.split('/')
  let dir = root
  for (const part of parts.slice(0, -1)) {
    dir = join(dir, part)
    let st: Stats
    try {
      st = await lstat(dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      try {
        await mkdir(dir)
        await fsyncDir(dirname(dir))
        continue
      } catch (e) {
        // made meanwhile (two files landing in one new folder): check what is there now
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
        st = await lstat(dir)
      }
    }
    if (st.isSymbolicLink()) throw new UnsafePathError(`${rel}: '${dir}' is a symlink`)
    if (!st.isDirectory()) throw new UnsafePathError(`${rel}: '${dir}' is not a folder`)
  }
  const target = join(root, ...parts)
  try {
    const st = await lstat(target)
    if (st.isSymbolicLink()) throw new UnsafePathError(`${rel}: the target is a symlink`)
    if (st.isDirectory()) throw new UnsafePathError(`${rel}: the target is a folder`)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  return target
}

export function toPosix(rel: string): string {
  return sep === '/' ? rel : rel.split(sep).join('/')
}

/** fsyncs a staging file; the hook lets tests make it fail (debug.failStagingFsyncs). */
export type StagingFsync = (fd: number) => Promise<void>

/** fsync(2) of an open descriptor: the StagingFsync of a real node. */
export function fsyncFd(fd: number): Promise<void> {
  return new Promise<void>((resolve, reject) => fsync(fd, (err) => (err != null ? reject(err) : resolve())))
}

/** A StagingFsync whose first `count` calls fail with EIO (a failing disk, for tests), the rest fsync. */
export function failingFsync(count: number): StagingFsync {
  let left = count
  return async (fd) => {
    if (left > 0) {
      left--
      throw Object.assign(new Error('EIO: i/o error, fsync (debug.failStagingFsyncs)'), { code: 'EIO', syscall: 'fsync' })
    }
    await fsyncFd(fd)
  }
}
