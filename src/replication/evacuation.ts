import type { LocalManifest } from '../catalog/local-manifest.js'
import type { EventLog } from '../state/event-log.js'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/log.js'
import type { ResolvedPolicy } from '../config/policies.js'
import { type NodeFacts, roleAllowed } from './placement.js'
import type { ReplicationPlanner } from './planner.js'

export interface EvacuationInit {
  self: string
  manifest: LocalManifest
  planner: ReplicationPlanner
  events: EventLog
  clock: Clock
  log?: Logger
  /** Tell the cluster now (health gossip) that this node is leaving. */
  announce(): void
  /** Files kept here that no node can be given (e.g. released from quarantine but still invalid: never announced). */
  withheld?(): Unplaceable[]
  /**
   * Validates a local file that has not been validated as its kind (local validation off, or content released
   * from quarantine before it was re-checked): the reason receivers will reject it, or undefined when it is
   * valid or was validated already. Called once per file still waited for, in the background.
   */
  revalidate?(sha256: string, signal?: AbortSignal): Promise<string | undefined>
}

/** A file evacuation cannot place elsewhere, and why. */
export interface Unplaceable {
  path: string
  sha256: string
  reason: string
}

export interface EvacuationResult {
  /** Files that reached their minimum on staying nodes. */
  safe: number
  /** Paths still short of their minimum elsewhere when the deadline passed. */
  left: string[]
  /** Files no staying node can take (by policy, or withheld as invalid): not waited for, named here. */
  unplaceable: Unplaceable[]
  ms: number
}

/**
 * Does the policy itself leave no other node that could ever receive the file
 * (roles, tags, excludeHosts)? Every known node counts, in any state: disk
 * room, backpressure and a node that is suspect or down for now do not make a
 * file unplaceable (they may clear, so it is waited for). With no other node
 * known at all it is waited for too: one may join.
 */
function policyShutsOut(policy: ResolvedPolicy, nodes: ReadonlyMap<string, NodeFacts>, self: string): boolean {
  let others = 0
  for (const n of nodes.values()) {
    if (n.peerId === self) continue
    others++
    if (n.evacuating) continue
    if (policy.excludeHosts.includes(n.name)) continue
    if (policy.tags.length > 0 && !policy.tags.some((t) => n.tags.includes(t))) continue
    if (roleAllowed(policy, n.role) || (!n.ephemeral && (n.role !== 'coordinator' || policy.allowCoordinators))) return false
  }
  return others > 0
}

/**
 * Spot evacuation (SIGTERM): the node announces that it is leaving; every
 * other node's placement then stops counting it as a stable copy and pulls
 * the files it would otherwise take with it, rarest first (the receivers ask
 * for the files with the fewest copies first, and this node admits the
 * rarest requests first). The node keeps serving until each of its files has
 * its minimum on nodes that stay, or the deadline passes. A file that cannot
 * be placed (its policy lets no staying node take it, or the node withholds
 * it as invalid, or it fails the validation receivers will apply) is not
 * waited for: it is named in a log line and in
 * evacuation_finished (re-checked each round). Files only disk room or
 * backpressure keep out are waited for, as they may clear.
 */
export async function evacuate(init: EvacuationInit, deadlineMs: number, signal?: AbortSignal): Promise<EvacuationResult> {
  const { clock, events, planner, manifest, self } = init
  const started = clock.now()
  const files = new Set([...manifest.all()].map((f) => f.sha256))
  init.announce()
  events.emit('evacuation_started', { files: files.size, deadlineMs })
  let left: string[] = []
  let unplaceable: Unplaceable[] = []
  let safe = 0
  // files still waited for, checked once each as receivers will check them: null = valid
  const verdicts = new Map<string, string | null>()
  const checking = new Set<string>()
  const revalidate = (sha: string): void => {
    if (init.revalidate == null || verdicts.has(sha) || checking.has(sha)) return
    checking.add(sha)
    init
      .revalidate(sha, signal)
      .then(
        (reason) => verdicts.set(sha, reason ?? null),
        () => verdicts.set(sha, null),
      )
      .finally(() => checking.delete(sha))
  }
  for (;;) {
    const plan = planner.compute()
    left = []
    unplaceable = [...(init.withheld?.() ?? [])]
    safe = 0
    for (const sha of files) {
      const p = plan.get(sha)
      if (p == null) continue
      const stableElsewhere = p.placement.stableCopies.filter((h) => h !== self)
      if (stableElsewhere.length >= p.policy.minCopies) {
        safe++
        continue
      }
      const receivers = p.placement.desired.filter((h) => h !== self && !stableElsewhere.includes(h))
      if (receivers.length === 0 && policyShutsOut(p.policy, planner.nodes(), self)) {
        unplaceable.push({ path: p.known.facts.path, sha256: sha, reason: `policy ${p.policy.name} lets no other node that stays receive it (roles, tags, excludeHosts)` })
      } else if (verdicts.get(sha) != null) {
        unplaceable.push({ path: p.known.facts.path, sha256: sha, reason: `fails validation, so every receiver rejects it: ${verdicts.get(sha)}` })
      } else {
        left.push(p.known.facts.path)
        revalidate(sha)
      }
    }
    if (left.length === 0 || clock.now() - started >= deadlineMs || signal?.aborted === true) break
    await clock.sleep(Math.min(500, Math.max(1, deadlineMs - (clock.now() - started))), signal).catch(() => {})
  }
  const ms = clock.now() - started
  if (unplaceable.length > 0) {
    init.log?.warn(
      { count: unplaceable.length, files: unplaceable.slice(0, 20).map((u) => `${u.path}: ${u.reason}`) },
      `evacuation: ${unplaceable.length} file(s) cannot be placed on any staying node and leave with this node: ${unplaceable
        .slice(0, 5)
        .map((u) => u.path)
        .join(', ')}${unplaceable.length > 5 ? ', ...' : ''}`,
    )
  }
  events.emit('evacuation_finished', {
    safe,
    left: left.slice(0, 100),
    leftCount: left.length,
    unplaceable: unplaceable.slice(0, 100),
    unplaceableCount: unplaceable.length,
    ms,
  })
  return { safe, left, unplaceable, ms }
}
