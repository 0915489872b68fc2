import { percentile, round } from '../bench/stats.js'
import type { SimReport } from '../report/types.js'
import type { Run } from './runner.js'

/** Assembles report.json from a finished run (see sim/report/types.ts for the shape). */
export function buildReport(run: Run, invariants: SimReport['invariants'], bytesNeeded: number): SimReport {
  const obs = run.observer
  const s = run.plan.scenario
  const precise = run.nodes.every((n) => n.precise)
  const known = precise ? new Map(run.nodes.map((n) => [n.name, new Map([...n.firstSeen].map(([sha, at]) => [sha, at - obs.t0] as const))])) : undefined
  const gossipMs = (run.probe != null ? run.probe.latencies() : obs.gossipLatencies(known)).map((v) => round(v, 1))
  const transferMs = obs.transferMs.map((v) => round(v, 1))

  // failure detection: from a kill to the last live node marking the victim down
  const detection: number[] = []
  for (const l of run.losses) {
    const firstByObserver = new Map<string, number>()
    for (const e of obs.events) {
      if (e.type !== 'peer_down' || e.t < l.t || e.t > (l.returnedAt ?? Number.POSITIVE_INFINITY) || e.node === l.node) continue
      if (e.peer !== l.node && !l.peerIds.includes(e.peer ?? '')) continue
      if (!firstByObserver.has(e.node)) firstByObserver.set(e.node, e.t)
    }
    if (firstByObserver.size > 0) detection.push(Math.max(...firstByObserver.values()) - l.t)
  }
  const repairs = run.losses.filter((l) => l.repairedAt != null && l.files.size > 0).map((l) => l.repairedAt! - l.t)
  const totals = obs.totals()
  const moved = Math.max(totals.bytesIn, totals.bytesOut)
  const count = (type: string) => obs.events.filter((e) => e.type === type).length
  const files = run.ledger.all()
  const final = obs.holders
  const pct = (xs: number[], p: number) => (xs.length > 0 ? round(percentile(xs, p), 1) : null)

  const figures: SimReport['figures'] = {
    nodes: run.plan.nodes.length,
    filesWritten: files.length,
    bytesWritten: files.reduce((a, f) => a + f.size, 0),
    bytesMoved: moved,
    bytesNeeded,
    stormFactor: bytesNeeded > 0 ? round(moved / bytesNeeded, 2) : null,
    gossipP50Ms: pct(gossipMs, 50),
    gossipP99Ms: pct(gossipMs, 99),
    gossipMeasurement: precise ? 'per file, exact (in-process hooks)' : `per manifest change, /status and /peers polled every ${run.probe?.everyMs ?? 0} ms`,
    transferP50Ms: pct(transferMs, 50),
    transferP99Ms: pct(transferMs, 99),
    failureDetectionMs: pct(detection, 50),
    failureDetectionMaxMs: detection.length > 0 ? Math.max(...detection) : null,
    repairMs: pct(repairs, 50),
    repairMaxMs: repairs.length > 0 ? Math.max(...repairs) : null,
    repairsMeasured: repairs.length,
    quietAtMs: run.quietAtMs,
    convergedAfterMs: run.convergedSince != null ? Math.max(0, run.convergedSince - run.quietAtMs) : null,
    chunksRejected: count('chunk_rejected'),
    quarantined: count('quarantined'),
    syncFailed: count('sync_failed'),
    filesDeleted: count('file_deleted'),
    eventsDropped: obs.eventsDropped,
  }

  return {
    version: 1,
    scenario: { name: s.name, description: s.description, file: run.file },
    seed: run.plan.seed,
    mode: run.o.mode,
    startedAt: run.startedAt.toISOString(),
    durationMs: obs.now(),
    settledAtMs: run.quietAtMs,
    nodes: run.plan.nodes.map((p) => {
      const n = run.byName.get(p.name)!
      const fate = run.fate.get(p.name)
      return { name: p.name, peerId: n.peerId, role: p.role, provider: p.provider, ephemeral: p.ephemeral, fate: fate === 'replaced' && n.alive ? 'replaced' : n.alive ? 'alive' : (fate ?? 'killed') }
    }),
    invariants,
    figures,
    files: files.map((f) => ({
      sha256: f.sha256,
      path: f.path,
      size: f.size,
      kind: f.kind === 'blob' ? 'other' : f.kind,
      origin: f.origin,
      minCopies: f.minCopies,
      createdAtMs: f.createdAtMs,
      ackedAtMs: f.ackedAtMs,
      finalCopies: final.get(f.sha256)?.length ?? 0,
    })),
    series: { copies: obs.copies, bytesMoved: obs.bytesMoved, disk: obs.disk },
    latency: { gossipMs, transferMs },
    faults: run.faults,
    events: obs.events,
  }
}
