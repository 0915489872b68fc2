import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runSim, type SimOutcome } from '../../sim/run/runner.js'

/**
 * The merges scenario (sim/scenarios/merges.yaml) end to end, in-process:
 * five self-play nodes write game databases, two storage nodes build the
 * canonical database, one of them is stopped abruptly mid-run and restarted.
 * After settling every game written must be in each builder's target exactly
 * once, and the usual invariants hold too.
 */
describe('sim: the merges scenario', () => {
  let dir = ''
  let out: SimOutcome | undefined

  afterAll(async () => {
    if (dir !== '' && out?.ok === true) await rm(dir, { recursive: true, force: true })
  })

  it('every game written is in the canonical database exactly once on both builders', async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshsync-sim-merges-'))
    out = await runSim({ scenario: 'merges', reportDir: dir, progress: () => {} })
    expect(out.breaches.map((b) => `${b.invariant}: ${b.message}`)).toEqual([])
    const m = out.report.invariants.mergedExactlyOnce!
    expect(m.ok).toBe(true)
    const targets = (m.detail as { targets: { node: string; games: number; inTarget: number }[] }).targets
    // both builders were checked, and there were games to check
    expect(targets.map((t) => t.node).sort()).toEqual(['store-0', 'store-1'])
    for (const t of targets) expect(t.games).toBeGreaterThan(100)
    expect(out.report.faults.some((f) => f.type === 'kill')).toBe(true)
  }, 300_000)
})
