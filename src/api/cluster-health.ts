import { constants } from 'node:fs'
import { access } from 'node:fs/promises'
import type { MeshsyncNode } from '../node.js'
import { errorMessage } from '../util/errors.js'
import type { LoopStatus } from '../util/loop.js'

export type ProblemKind = 'under_min' | 'sync_lag' | 'disk_urgent' | 'node_down' | 'loop_stalled' | 'not_writable'

/** One reason the cluster is not safe: what (file, node or loop), and what to do. */
export interface HealthProblem {
  kind: ProblemKind
  /** The file path, node name or loop name. */
  subject: string
  message: string
  action: string
}

export interface ClusterHealth {
  ok: boolean
  node: string
  checkedAtMs: number
  problems: HealthProblem[]
  /** Problems of one kind past this many are counted, not listed. */
  omitted: Partial<Record<ProblemKind, number>>
  /** Files under their minimum for less than alerts.underMinGraceSeconds: not problems yet, but not copied either. */
  underMinInGrace: { files: number; graceSeconds: number }
}

const LIST_AT_MOST = 20
const s = (ms: number): string => `${Math.round(ms / 1000)} s`

/** Loops whose last good tick is older than their allowance (stallIntervals × interval, at least minMs). */
export function stalledLoops(loops: LoopStatus[], now: number, stallIntervals: number, minMs: number): HealthProblem[] {
  const out: HealthProblem[] = []
  for (const l of loops) {
    if (!l.running) continue
    const allowance = Math.max(minMs, stallIntervals * l.intervalMs)
    const last = l.lastOkMs ?? l.startedMs ?? now
    if (now - last <= allowance) continue
    const why = l.tickSinceMs != null ? `its current tick has run for ${s(now - l.tickSinceMs)}` : l.lastError != null ? `its ticks fail: ${l.lastError}` : 'it has not ticked'
    out.push({
      kind: 'loop_stalled',
      subject: l.name,
      message: `loop ${l.name}: no successful tick for ${s(now - last)} (allowed ${s(allowance)}); ${why}`,
      action: `look for '${l.name}' in this node's log; restart the node if it stays stuck`,
    })
  }
  return out
}

/**
 * Whether the cluster is safe, as this node sees it: files under their
 * minimum past the grace, sync lag, nodes whose disk is past disk.urgentAt,
 * nodes down, this node's stalled loops, and whether it can write its state
 * database and data dir.
 */
export async function clusterHealth(node: MeshsyncNode): Promise<ClusterHealth> {
  const cfg = node.config
  const now = node.clock.now()
  const problems: HealthProblem[] = []
  const nameOf = (peer: string): string => (peer === node.peerId ? cfg.node.name : (node.view.get(peer)?.name ?? peer.slice(0, 16)))

  // files under their minimum for longer than the grace
  const graceMs = cfg.alerts.underMinGraceSeconds * 1000
  let oldest: { path: string; since: number } | undefined
  let inGrace = 0
  for (const [sha, p] of node.planner.plan()) {
    if (p.placement.copies.length >= p.policy.minCopies) continue
    const since = node.planner.underMinSince(sha) ?? now
    if (oldest == null || since < oldest.since) oldest = { path: p.known.facts.path, since }
    if (now - since < graceMs) {
      inGrace++
      continue
    }
    const holders = p.known.facts.holders.map(nameOf)
    problems.push({
      kind: 'under_min',
      subject: p.known.facts.path,
      message: `${p.known.facts.path} has ${p.placement.copies.length} of ${p.policy.minCopies} copies (policy ${p.policy.name}) for ${s(now - since)}; held by ${holders.join(', ') || 'no live node'}`,
      action:
        p.placement.copies.length <= 1
          ? `only ${holders[0] ?? 'one node'} holds it: keep that node up; bring the other holders back, or add nodes with room the policy accepts`
          : 'bring the down holders back or add nodes with room the policy accepts; `meshsync transfers` on the receivers shows why pulls wait',
    })
  }
  const lagMs = node.planner.stats.syncLagMs
  if (oldest != null && lagMs > cfg.alerts.maxSyncLagSeconds * 1000) {
    problems.push({
      kind: 'sync_lag',
      subject: oldest.path,
      message: `sync lag ${s(lagMs)} is over alerts.maxSyncLagSeconds (${cfg.alerts.maxSyncLagSeconds} s): ${oldest.path} has waited longest for its copies`,
      action: 'check that receivers are up and accepting (disk, backpressure) and that bandwidth caps allow the rate of new data',
    })
  }

  for (const n of node.readModels.nodes()) {
    const d = n.disk as { usedFraction?: number; free?: number } | undefined
    if (d?.usedFraction != null && d.usedFraction >= cfg.disk.urgentAt) {
      problems.push({
        kind: 'disk_urgent',
        subject: String(n.name ?? n.peerId),
        message: `node ${n.name ?? n.peerId}: disk ${(d.usedFraction * 100).toFixed(1)}% used, past disk.urgentAt (${(cfg.disk.urgentAt * 100).toFixed(0)}%)`,
        action: 'free or add disk on that node, or add storage nodes; it is moving its data out to its replicas urgently',
      })
    }
  }

  for (const p of node.view.peers()) {
    if (p.peerId === node.peerId || p.state !== 'down') continue
    problems.push({
      kind: 'node_down',
      subject: p.name ?? p.peerId,
      message: `node ${p.name ?? p.peerId} is down since ${new Date(p.stateSinceMs).toISOString()} (${s(now - p.stateSinceMs)})`,
      action: `start meshsync on ${p.name ?? p.peerId} again, or, if it is gone for good, make sure its files have their copies elsewhere`,
    })
  }

  problems.push(...stalledLoops(node.loops.map((l) => l.status), now, cfg.alerts.loopStallIntervals, cfg.alerts.loopStallMinSeconds * 1000))

  try {
    node.db.exec('BEGIN IMMEDIATE; ROLLBACK')
  } catch (err) {
    problems.push({
      kind: 'not_writable',
      subject: node.layout.db,
      message: `the state database ${node.layout.db} cannot be written: ${errorMessage(err)}`,
      action: 'check the disk (full? read-only?) and that no other process holds the database; then restart the node',
    })
  }
  for (const dir of [node.layout.dataDir, node.layout.staging]) {
    try {
      await access(dir, constants.W_OK)
    } catch (err) {
      problems.push({
        kind: 'not_writable',
        subject: dir,
        message: `${dir} is not writable: ${errorMessage(err)}`,
        action: 'check the mount (read-only?), the free space and the owner of the folder',
      })
    }
  }

  const omitted: Partial<Record<ProblemKind, number>> = {}
  const listed: HealthProblem[] = []
  const perKind = new Map<ProblemKind, number>()
  for (const p of problems) {
    const n = (perKind.get(p.kind) ?? 0) + 1
    perKind.set(p.kind, n)
    if (n <= LIST_AT_MOST) listed.push(p)
    else omitted[p.kind] = n - LIST_AT_MOST
  }
  return {
    ok: problems.length === 0,
    node: cfg.node.name ?? node.peerId,
    checkedAtMs: now,
    problems: listed,
    omitted,
    underMinInGrace: { files: inGrace, graceSeconds: cfg.alerts.underMinGraceSeconds },
  }
}
