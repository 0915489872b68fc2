import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import type { AttestHolder } from '../../protocols/attest/service.js'
import type { LocalManifest } from '../catalog/local-manifest.js'
import type { DeletionGuard } from './deletion-guard.js'

const READ_SIZE = 4 * 1024 * 1024

/**
 * This node's side of an attestation: it may attest a file it holds and is
 * not deleting itself (granting the lease), and it proves the copy by
 * fsyncing and re-hashing it.
 */
export function attestHolder(dataDir: string, manifest: LocalManifest, guard: DeletionGuard): AttestHolder {
  return {
    grant(sha256) {
      const f = manifest.bySha(sha256)[0]
      if (f == null) return undefined
      if (!guard.attest(sha256, true)) return 'refused'
      return { size: f.size, leaseMs: guard.rules.leaseMs }
    },
    async rehash(sha256, signal) {
      for (const f of manifest.bySha(sha256)) {
        if (await rehashMatches(join(dataDir, f.path), sha256, f.size, signal).catch(() => false)) return true
      }
      return false
    },
  }
}

async function rehashMatches(path: string, sha256: string, size: number, signal: AbortSignal): Promise<boolean> {
  const fh = await open(path, 'r')
  try {
    await fh.sync()
    const hash = createHash('sha256')
    const buf = Buffer.allocUnsafe(READ_SIZE)
    let pos = 0
    for (;;) {
      signal.throwIfAborted()
      const { bytesRead } = await fh.read(buf, 0, READ_SIZE, pos)
      if (bytesRead === 0) break
      hash.update(buf.subarray(0, bytesRead))
      pos += bytesRead
    }
    return pos === size && hash.digest('hex') === sha256
  } finally {
    await fh.close()
  }
}
