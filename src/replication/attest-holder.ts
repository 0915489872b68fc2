import { join } from 'node:path'
import type { AttestHolder } from '../../protocols/attest/service.js'
import { hashWholeFile } from '../catalog/hasher.js'
import type { LocalManifest } from '../catalog/local-manifest.js'
import type { DeletionGuard } from './deletion-guard.js'

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
  const r = await hashWholeFile(path, { signal, sync: true })
  return r.size === size && r.sha256 === sha256
}
