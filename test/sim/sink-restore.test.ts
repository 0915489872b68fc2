import { createHash } from 'node:crypto'
import { readdir, readFile, rm } from 'node:fs/promises'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runSim, type SimOutcome } from '../../sim/run/runner.js'

/** SHA-256 of every file under a data dir (meshsync's own .meshsync folder left out). */
async function hashesIn(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  let names: string[]
  try {
    names = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name))
  } catch {
    return out
  }
  for (const f of names) {
    const rel = f.slice(dir.length + 1)
    if (rel.startsWith('.meshsync')) continue
    out.set(rel, createHash('sha256').update(await readFile(f)).digest('hex'))
  }
  return out
}

/**
 * The sink-restore scenario (sim/scenarios/sink-restore.yaml) end to end,
 * in-process: five nodes back up to an s3rver on loopback and a drive, then
 * every node dies and every data dir is deleted; store-0 restores from the
 * sinks and the new cluster replicates again. Besides the invariants, the
 * test hashes the data dirs itself afterwards: every file written is back,
 * byte-identical, on at least its minimum of nodes.
 */
describe('sim: every node dies and the data comes back from the sinks', () => {
  let dir = ''
  let out: SimOutcome | undefined

  afterAll(async () => {
    if (dir !== '' && out?.ok === true) await rm(dir, { recursive: true, force: true })
  })

  it('restores every file written, byte-identical, from the sinks alone', async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshsync-sim-sink-restore-'))
    const work = join(dir, 'work')
    out = await runSim({ scenario: 'sink-restore', reportDir: join(dir, 'report'), workDir: work, keep: true, progress: () => {} })
    const r = out.report
    expect(out.breaches.map((b) => `${b.invariant}: ${b.message}`)).toEqual([])
    expect(out.ok).toBe(true)

    // the loss really happened, and the restore brought back every file from the sinks (none was left anywhere else)
    expect(r.faults.filter((f) => f.type === 'lose-all')).toHaveLength(1)
    const restore = r.faults.find((f) => f.type === 'restore')
    expect(restore?.node).toBe('store-0')
    expect(restore?.detail).toBe(`${r.files.length} restored, 0 already here, 0 failed`)
    expect(r.files.length).toBeGreaterThanOrEqual(10)
    expect(new Set(r.files.map((f) => f.kind))).toEqual(new Set(['sqlite', 'npz', 'model']))
    // the harness checked the sink copies itself (every file against both sinks)
    const d = r.invariants.noDataLost!.detail as { filesCounted: number; sinkCopiesChecked: number; sinkCopiesUnverified: number }
    expect(d.filesCounted).toBe(r.files.length)
    expect(d.sinkCopiesChecked).toBe(2 * r.files.length)
    expect(d.sinkCopiesUnverified).toBe(0)

    // independently of the harness: the data dirs on disk hold every file written, byte for byte, at its minimum
    const copies = new Map<string, number>()
    for (const node of ['store-0', 'train-0', 'train-1', 'spot-0', 'spot-1']) {
      for (const sha of new Set((await hashesIn(join(work, node))).values())) copies.set(sha, (copies.get(sha) ?? 0) + 1)
    }
    for (const f of r.files) expect(copies.get(f.sha256) ?? 0, f.path).toBeGreaterThanOrEqual(f.minCopies)
  }, 150_000)
})
