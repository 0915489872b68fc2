import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { SimReport } from '../../sim/report/types.js'
import { runSim, type SimOutcome } from '../../sim/run/runner.js'

/**
 * The ci scenario (sim/scenarios/ci.yaml) end to end, in processes mode: five
 * real node processes of the compiled CLI (npm run build first), spot churn
 * with kill -9, a spot node that never returns, and a trainer that corrupts
 * half the chunks it serves. Every invariant must hold, and the run must
 * really have exercised the faults it claims.
 */
describe('sim: the ci scenario', () => {
  let dir = ''
  let out: SimOutcome | undefined

  afterAll(async () => {
    if (dir !== '' && out?.ok === true) await rm(dir, { recursive: true, force: true })
  })

  it('holds every invariant through churn, a lost node and a corrupt source', async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshsync-sim-ci-'))
    const began = Date.now()
    out = await runSim({ scenario: 'ci', reportDir: dir, progress: () => {} })
    const r = out.report
    // the breaches name the invariant, the file and the nodes: show them when this fails
    expect(out.breaches.map((b) => `${b.invariant}: ${b.message}`)).toEqual([])
    for (const name of ['noDataLost', 'nothingCorruptVisible', 'convergence', 'noStorm']) expect(r.invariants[name]?.ok, name).toBe(true)
    expect(out.ok).toBe(true)
    expect(Date.now() - began).toBeLessThan(120_000)

    // the faults happened: kill -9s, restarts, and one node gone for good
    expect(r.mode).toBe('processes')
    expect(r.faults.filter((f) => f.type === 'kill').length).toBeGreaterThanOrEqual(3)
    expect(r.faults.filter((f) => f.type === 'restart').length).toBeGreaterThanOrEqual(2)
    expect(r.nodes.find((n) => n.name === 'spot-1')?.fate).toBe('killed')
    // the corrupt source really served bad chunks, and they were caught
    expect(Number(r.figures.chunksRejected)).toBeGreaterThan(0)
    // data of every kind was written and replicated: the invariant had something to check
    expect(new Set(r.files.map((f) => f.kind))).toEqual(new Set(['sqlite', 'npz', 'model']))
    const counted = (r.invariants.noDataLost!.detail as { filesCounted: number }).filesCounted
    expect(counted).toBeGreaterThanOrEqual(10)
    expect(r.files.filter((f) => f.ackedAtMs != null).length).toBeGreaterThanOrEqual(10)
    // the dead node was seen down by the others
    expect(Number(r.figures.failureDetectionMs)).toBeGreaterThan(0)

    // the report files
    const json = JSON.parse(readFileSync(out.reportJson, 'utf8')) as SimReport
    expect(json.invariants).toEqual(r.invariants)
    expect(json.series.copies.length).toBeGreaterThan(20)
    const html = readFileSync(out.reportHtml, 'utf8')
    expect(html).toContain('PASS')
    expect(existsSync(join(dir, 'logs', 'spot-1.log'))).toBe(true)
  }, 180_000)
})
