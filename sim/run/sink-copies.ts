import type { Sink } from '../../src/sinks/index.js'
import { verifySinkCopy } from '../../src/sinks/verify.js'
import type { LedgerFile } from './ledger.js'

/** What one sink holds of one written file, as the harness checked it. */
export interface SinkCopyCheck {
  sink: string
  /** Size, stored checksum and (with rehash) the bytes themselves are the file's. */
  ok: boolean
  reason?: string
}

/**
 * For each written file, whether each sink holds a verified copy of it:
 * src/sinks/verify.ts reads the object's size and stored SHA-256 and, with
 * `rehash`, downloads and hashes its bytes, so an object altered in the sink
 * (same size, same metadata, other bytes) does not count. A sink that cannot
 * be reached verifies nothing.
 */
export async function checkSinkCopies(files: readonly LedgerFile[], sinks: readonly Sink[], opts: { rehash: boolean; signal?: AbortSignal }): Promise<Map<string, SinkCopyCheck[]>> {
  const out = new Map<string, SinkCopyCheck[]>()
  for (const f of files) {
    const checks: SinkCopyCheck[] = []
    for (const sink of sinks) {
      opts.signal?.throwIfAborted()
      try {
        const v = await verifySinkCopy(sink, { sha256: f.sha256, size: f.size, kind: f.kind, chunkRoot: '' }, { rehash: opts.rehash, signal: opts.signal })
        checks.push(v.ok ? { sink: sink.name, ok: true } : { sink: sink.name, ok: false, reason: v.reason })
      } catch (err) {
        checks.push({ sink: sink.name, ok: false, reason: `not checked: ${(err as Error).message}` })
      }
    }
    out.set(f.sha256, checks)
  }
  return out
}

/** Files written so far that no sink holds a verified copy of (head only: the wait before a lose-all fault). */
export async function notYetInSinks(files: readonly LedgerFile[], sinks: readonly Sink[], signal?: AbortSignal): Promise<LedgerFile[]> {
  const checks = await checkSinkCopies(files, sinks, { rehash: false, signal })
  return files.filter((f) => !(checks.get(f.sha256) ?? []).some((c) => c.ok))
}
