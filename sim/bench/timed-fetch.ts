import { writeFile } from 'node:fs/promises'
import type { ProcessNode } from '../harness/process-node.js'

/**
 * Asks a receiver process to fetch `sha256` and polls until it has landed:
 * seconds from POST /fetch to landed, and the receiver's peak RSS over just
 * that time (the kernel's peak is reset first).
 */
export async function timedFetch(dst: ProcessNode, sha256: string): Promise<{ seconds: number; peakRssMiB: number }> {
  await writeFile(`/proc/${dst.pid}/clear_refs`, '5')
  const started = performance.now()
  await dst.post('/fetch', { sha256 })
  for (;;) {
    const t = await dst.get<{ state: string; lastError?: string }>(`/transfer?sha256=${sha256}`)
    if (t.state === 'landed') break
    if (t.state === 'failed') throw new Error(`transfer of ${sha256.slice(0, 12)} failed: ${t.lastError}`)
    await new Promise((r) => setTimeout(r, 20))
  }
  const seconds = (performance.now() - started) / 1000
  return { seconds, peakRssMiB: await dst.peakRssMiB() }
}
