import { createHash } from 'node:crypto'
import { constants } from 'node:fs'
import { open } from 'node:fs/promises'
import { chunkRoot, chunkSizeFor } from '../../protocols/blob/chunks.js'

export interface FileDigest {
  size: number
  sha256: string
  chunkSize: number
  /** 32 bytes per chunk. */
  chunkHashes: Buffer
  chunkRoot: string
}

/**
 * One read of the file: its SHA-256 and the SHA-256 of each chunk. The file
 * is opened without following a symlink; if its size changes while it is
 * read, the digest is refused (the caller retries once the file is stable).
 */
export async function digestFile(path: string, options: { signal?: AbortSignal } = {}): Promise<FileDigest> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw new Error(`${path} is not a regular file`)
    const size = st.size
    const chunkSize = chunkSizeFor(size)
    const whole = createHash('sha256')
    const hashes: Buffer[] = []
    const buf = Buffer.allocUnsafe(Math.min(chunkSize, 4 * 1024 * 1024))
    let offset = 0
    while (offset < size) {
      options.signal?.throwIfAborted()
      const chunk = createHash('sha256')
      const end = Math.min(size, offset + chunkSize)
      while (offset < end) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - offset), offset)
        if (bytesRead === 0) throw new Error(`${path} shrank while it was read`)
        const view = buf.subarray(0, bytesRead)
        whole.update(view)
        chunk.update(view)
        offset += bytesRead
      }
      hashes.push(chunk.digest())
    }
    const after = await fh.stat()
    if (after.size !== size || after.mtimeMs !== st.mtimeMs) throw new Error(`${path} changed while it was read`)
    const chunkHashes = Buffer.concat(hashes)
    return { size, sha256: whole.digest('hex'), chunkSize, chunkHashes, chunkRoot: chunkRoot(chunkHashes).toString('hex') }
  } finally {
    await fh.close()
  }
}
