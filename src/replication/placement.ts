import { createHash } from 'node:crypto'
import type { DiskLevel } from '../../protocols/health/index.js'
import type { Priority } from '../config/schema.js'
import type { ResolvedPolicy } from '../config/policies.js'

/**
 * Placement without a coordinator. Every node runs these pure functions over
 * the same gossiped facts and gets the same answer: which nodes should hold
 * a file. A node pulls what it should hold; nobody pushes.
 */

/** What placement needs to know about a node (from its health gossip). */
export interface NodeFacts {
  peerId: string
  name: string
  role: string
  tags: string[]
  ephemeral: boolean
  /** up: health arriving. suspect/down: not a target (a down node's copies may still count, see counts). */
  state: 'up' | 'suspect' | 'down'
  /** Its copies still count: up, suspect, or down for less than the grace period. */
  counts: boolean
  diskFree: number
  diskLevel: DiskLevel
  /** Backpressure off. */
  accepting: boolean
  evacuating: boolean
  /** Backup sinks it can reach (health gossip), for choosing the uploader (src/sinks/uploader.ts). */
  sinks?: string[]
}

export interface FileFacts {
  sha256: string
  path: string
  size: number
  origin: string
  promoted: boolean
  /** Nodes whose manifest lists it (counting or not). */
  holders: string[]
}

export interface Placement {
  /** The nodes that should hold the file, in order. */
  desired: string[]
  /** Holders whose copies count. */
  copies: string[]
  /** Copies on nodes that are staying (not evacuating, not over the push threshold). */
  stableCopies: string[]
  priority: Priority
  /** At least one holder was lost (down past grace): pulls are repairs, rate-limited. */
  repair: boolean
}

/** Free space a receiver must keep beyond the file (we cannot see its minFree). */
export const RECEIVER_HEADROOM = 64 * 1024 * 1024

/** Rendezvous (highest random weight) score, weighted: -w / ln(u) with u uniform in (0,1) from SHA-256(sha || peer). */
export function hrwScore(sha256: string, peerId: string, weight: number): number {
  const h = createHash('sha256').update(sha256).update(peerId).digest()
  // 52 bits -> (0,1)
  const u = (h.readUIntBE(0, 6) * 16 + (h[6]! >> 4) + 0.5) / 2 ** 52
  return -Math.max(weight, 1e-9) / Math.log(u)
}

/** Weight of a node in the ranking: its free disk in GiB (so emptier nodes get more), at least 1. */
export function nodeWeight(n: NodeFacts): number {
  return Math.max(1, n.diskFree / 2 ** 30)
}

export function roleAllowed(policy: Pick<ResolvedPolicy, 'roles' | 'allowCoordinators'>, role: string): boolean {
  if (policy.roles.length > 0) return policy.roles.includes(role as never)
  return role !== 'coordinator' || policy.allowCoordinators
}

/** May `n` receive this file under `policy` now? */
export function canReceive(n: NodeFacts, f: FileFacts, policy: ResolvedPolicy, priority: Priority): boolean {
  if (n.state !== 'up' || n.evacuating) return false
  if (policy.excludeHosts.includes(n.name)) return false
  if (policy.tags.length > 0 && !policy.tags.some((t) => n.tags.includes(t))) return false
  const critical = priority === 'critical'
  if (!critical && (n.diskLevel === 'full' || !n.accepting)) return false
  // a node that already holds it needs no room for it
  if (n.diskFree < f.size + RECEIVER_HEADROOM && !f.holders.includes(n.peerId)) return false
  return true
}

const PRIORITY_ORDER: Priority[] = ['background', 'low', 'normal', 'high', 'critical']
export function raise(p: Priority, steps = 1): Priority {
  return PRIORITY_ORDER[Math.min(PRIORITY_ORDER.length - 1, PRIORITY_ORDER.indexOf(p) + steps)]!
}

/**
 * Where a file should live.
 *
 * - Copies that count (holders up, suspect, or down within grace) are kept
 *   where they are: placement never moves data that is already safe.
 * - A copy on a node that is leaving (evacuating) or over its push threshold
 *   counts for safety but not for placement, so the file gets its minimum
 *   elsewhere and the node can let it go.
 * - The rest of the minimum is filled from the rendezvous ranking of nodes
 *   that may receive it: priority hosts first, then role-matched stable
 *   nodes, then role-matched ephemeral ones, then (so safety never depends
 *   on a role existing) any other stable node that may receive it.
 * - Broadcast (and gossip, and promoted models) add every role-matched node.
 * - A file made on an ephemeral node gets its minimum on other nodes.
 */
export function place(f: FileFacts, nodes: Map<string, NodeFacts>, policy: ResolvedPolicy): Placement {
  const copies = f.holders.filter((h) => nodes.get(h)?.counts === true)
  const leaving = (id: string): boolean => {
    const n = nodes.get(id)
    // a holder that is down but within its grace period stays a stable copy: that is what the grace is for
    return n == null || n.evacuating || n.diskLevel === 'push' || n.diskLevel === 'urgent' || n.diskLevel === 'full'
  }
  const originNode = nodes.get(f.origin)
  const originEphemeral = originNode?.ephemeral === true
  const stableCopies = copies.filter((h) => !leaving(h) && !(originEphemeral && h === f.origin))
  const repair = f.holders.some((h) => nodes.get(h)?.counts === false)
  let priority: Priority = f.promoted ? 'critical' : policy.priority
  if (originEphemeral && f.holders.includes(f.origin)) priority = raise(priority) // spot data leaves first
  const pressured = copies.filter((h) => leaving(h))
  if (pressured.length > 0 && stableCopies.length < policy.minCopies) {
    const worst = pressured.map((h) => nodes.get(h)).some((n) => n?.evacuating || n?.diskLevel === 'urgent' || n?.diskLevel === 'full')
    priority = worst ? raise(priority, 2) : raise(priority)
  }

  const desired: string[] = [...stableCopies]
  const add = (id: string): void => {
    if (!desired.includes(id)) desired.push(id)
  }
  const broadcast = f.promoted || policy.strategy === 'broadcast' || policy.strategy === 'gossip'
  const candidates = [...nodes.values()].filter((n) => {
    if (originEphemeral && n.peerId === f.origin) return false
    // a pressured holder's copy is the one to let go: the raised priority must not make it its own target
    if (f.holders.includes(n.peerId) && leaving(n.peerId)) return false
    return canReceive(n, f, policy, priority)
  })
  const rank = (list: NodeFacts[]): NodeFacts[] =>
    list
      .map((n) => ({ n, s: hrwScore(f.sha256, n.peerId, nodeWeight(n)) }))
      .sort((a, b) => b.s - a.s || (a.n.peerId < b.n.peerId ? -1 : 1))
      .map((x) => x.n)
  const byRole = candidates.filter((n) => roleAllowed(policy, n.role))
  // ranked lazily: a file that already has its minimum on stable nodes (the usual case) costs no hashing
  const tiers: (() => NodeFacts[])[] = [
    () => rank(byRole.filter((n) => policy.priorityHosts.includes(n.name))).sort((a, b) => policy.priorityHosts.indexOf(a.name) - policy.priorityHosts.indexOf(b.name)),
    () => rank(byRole.filter((n) => !n.ephemeral)),
    () => rank(byRole.filter((n) => n.ephemeral)),
    // safety net: no role match left, any stable node that may receive (never a coordinator unless allowed)
    () => rank(candidates.filter((n) => !n.ephemeral && (n.role !== 'coordinator' || policy.allowCoordinators))),
  ]
  for (const tier of tiers) {
    if (desired.length >= policy.minCopies) break
    for (const n of tier()) {
      if (desired.length >= policy.minCopies) break
      add(n.peerId)
    }
  }
  // last resort: nodes that refuse only for load (backpressure, not a full disk). A file still under its
  // minimum goes to one of them rather than stay at risk on a cluster whose CPUs a training job keeps busy
  if (desired.length < policy.minCopies) {
    const busy = [...nodes.values()].filter(
      (n) =>
        !n.accepting &&
        n.diskLevel !== 'full' &&
        !(originEphemeral && n.peerId === f.origin) &&
        !(f.holders.includes(n.peerId) && leaving(n.peerId)) &&
        (roleAllowed(policy, n.role) || (!n.ephemeral && (n.role !== 'coordinator' || policy.allowCoordinators))) &&
        canReceive({ ...n, accepting: true }, f, policy, priority),
    )
    for (const n of rank(busy)) {
      if (desired.length >= policy.minCopies) break
      add(n.peerId)
    }
  }
  if (broadcast) for (const n of byRole) add(n.peerId)
  return { desired, copies, stableCopies, priority, repair }
}
