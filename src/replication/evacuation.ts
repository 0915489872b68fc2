import type { LocalManifest } from '../catalog/local-manifest.js'
import type { EventLog } from '../state/event-log.js'
import type { Clock } from '../util/clock.js'
import type { ReplicationPlanner } from './planner.js'

export interface EvacuationInit {
  self: string
  manifest: LocalManifest
  planner: ReplicationPlanner
  events: EventLog
  clock: Clock
  /** Tell the cluster now (health gossip) that this node is leaving. */
  announce(): void
}

export interface EvacuationResult {
  /** Files that reached their minimum on staying nodes. */
  safe: number
  /** Paths still short of their minimum elsewhere when the deadline passed. */
  left: string[]
  ms: number
}

/**
 * Spot evacuation (SIGTERM): the node announces that it is leaving; every
 * other node's placement then stops counting it as a stable copy and pulls
 * the files it would otherwise take with it, rarest first (the receivers ask
 * for the files with the fewest copies first, and this node admits the
 * rarest requests first). The node keeps serving until each of its files has
 * its minimum on nodes that stay, or the deadline passes.
 */
export async function evacuate(init: EvacuationInit, deadlineMs: number, signal?: AbortSignal): Promise<EvacuationResult> {
  const { clock, events, planner, manifest, self } = init
  const started = clock.now()
  const files = new Set([...manifest.all()].map((f) => f.sha256))
  init.announce()
  events.emit('evacuation_started', { files: files.size, deadlineMs })
  let left: string[] = []
  let safe = 0
  for (;;) {
    const plan = planner.compute()
    left = []
    safe = 0
    for (const sha of files) {
      const p = plan.get(sha)
      if (p == null) continue
      const elsewhere = p.placement.stableCopies.filter((h) => h !== self).length
      if (elsewhere >= p.policy.minCopies) safe++
      else left.push(p.known.facts.path)
    }
    if (left.length === 0 || clock.now() - started >= deadlineMs || signal?.aborted === true) break
    await clock.sleep(Math.min(500, Math.max(1, deadlineMs - (clock.now() - started))), signal).catch(() => {})
  }
  const ms = clock.now() - started
  events.emit('evacuation_finished', { safe, left: left.slice(0, 100), leftCount: left.length, ms })
  return { safe, left, ms }
}
