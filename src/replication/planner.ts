import type { ManifestEntry } from '../../protocols/manifest/index.js'
import type { LocalManifest } from '../catalog/local-manifest.js'
import type { ClusterView } from '../cluster/view.js'
import { policyFor, type ResolvedPolicy } from '../config/policies.js'
import type { EventLog } from '../state/event-log.js'
import type { TransferJson, WantOptions } from '../transfer/manager.js'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/log.js'
import { Loop } from '../util/loop.js'
import { knownFiles, nodeFacts, type KnownFile, type SelfFacts } from './facts.js'
import type { GraceConfig } from './grace.js'
import { place, roleAllowed, type NodeFacts, type Placement } from './placement.js'

/** The part of the transfer manager the planner drives. */
export interface PlannerTransfers {
  want(entry: ManifestEntry, opts: WantOptions): 'held' | 'queued' | 'already'
  cancel(sha256: string, reason?: string): boolean
  list(): TransferJson[]
}

export interface PlannerInit {
  self: () => SelfFacts
  view: ClusterView
  manifest: LocalManifest
  policies: ResolvedPolicy[]
  transfers: PlannerTransfers
  events: EventLog
  clock: Clock
  log: Logger
  grace: GraceConfig
  intervalMs: number
  /** Repairs (pulls of files that lost a holder) started per minute at most. */
  repairsPerMinute: number
  /**
   * No pulls for this long after start: until the health of the other nodes
   * has arrived, this node's view of the cluster is partial and it would
   * place files differently from everyone else (and pull copies nobody needs).
   */
  warmupMs: number
  /** True once this node's copy of every live peer's manifest matches what that peer's health says. */
  viewSynced: () => boolean
  /** Placement wants a file here that no live node can send (every holder lost): a backup sink may have it (src/sinks). */
  noLiveSource?: (p: PlannedFile) => void
  /** Verified backup-sink copies of a file: they count in the data-at-risk figures (never as a source or a placement target). */
  sinkCopies?: (sha256: string, size: number) => number
}

/** Replication health, for /status and the metrics. */
export interface ReplicationStats {
  /** Distinct files known in the cluster. */
  files: number
  /** Files with fewer copies that count than their policy's minimum. */
  filesUnderMin: number
  /** Bytes of those files. */
  bytesAtRisk: number
  /** Age of the oldest file not yet at its minimum (0 when none). */
  syncLagMs: number
  /** Pulls this node has queued or running to meet placement. */
  pulling: number
  /** Repairs started here, and those held back by the rate limit. */
  repairsStarted: number
  repairsDeferred: number
  lastTickMs: number
}

/** What the planner decided about one file on the last tick. */
export interface PlannedFile {
  known: KnownFile
  policy: ResolvedPolicy
  placement: Placement
}

const REASONS_WE_OWN = new Set(['replica', 'repair', 'broadcast'])

/**
 * The replication loop. Every tick it computes, from gossiped facts only,
 * where each known file should live (the same answer on every node), and
 * pulls the files this node should hold and does not. It never pushes and
 * never deletes: deletion is the cleanup's, under the deletion rules.
 * Repairs (a holder lost past its grace period) are rate-limited so a
 * flapping node cannot start a storm.
 */
export class ReplicationPlanner {
  readonly #init: PlannerInit
  readonly #loop: Loop
  /** When each under-replicated file was first seen under its minimum. */
  readonly #underSince = new Map<string, number>()
  readonly #distributed = new Set<string>()
  readonly #accepting = new Map<string, boolean>()
  #tokens: number
  #tokensAt: number
  readonly #startedMs: number
  #warm = false
  #plan = new Map<string, PlannedFile>()
  #nodes = new Map<string, NodeFacts>()
  #stats: ReplicationStats = { files: 0, filesUnderMin: 0, bytesAtRisk: 0, syncLagMs: 0, pulling: 0, repairsStarted: 0, repairsDeferred: 0, lastTickMs: 0 }

  constructor(init: PlannerInit) {
    this.#init = init
    this.#tokens = init.repairsPerMinute
    this.#tokensAt = init.clock.now()
    this.#startedMs = init.clock.now()
    this.#loop = new Loop({ name: 'replication', intervalMs: init.intervalMs, clock: init.clock, log: init.log }, () => this.tick())
  }

  start(): void {
    this.#loop.start(false)
  }

  async stop(): Promise<void> {
    await this.#loop.stop()
  }

  /** Plan again soon (a manifest or a node's health changed). */
  poke(): void {
    this.#loop.pokeIn(50)
  }

  get stats(): ReplicationStats {
    return this.#stats
  }

  /** The last tick's placement of a file (tests, the API, evacuation and cleanup). */
  planned(sha256: string): PlannedFile | undefined {
    return this.#plan.get(sha256)
  }

  /** When a file went under its minimum (undefined while it has its copies), for /health/cluster. */
  underMinSince(sha256: string): number | undefined {
    return this.#underSince.get(sha256)
  }

  plan(): ReadonlyMap<string, PlannedFile> {
    return this.#plan
  }

  nodes(): ReadonlyMap<string, NodeFacts> {
    return this.#nodes
  }

  /** Computes placement for everything known, without acting on it. */
  compute(): Map<string, PlannedFile> {
    const { view, manifest, policies, grace, clock } = this.#init
    const self = this.#init.self()
    const now = clock.now()
    const nodes = nodeFacts(view, self, now, grace)
    const plan = new Map<string, PlannedFile>()
    for (const known of knownFiles(view, manifest, self.peerId).values()) {
      const policy = policyFor(policies, known.facts.path, known.entry.kind)
      if (policy.excluded(known.facts.path)) continue
      plan.set(known.facts.sha256, { known, policy, placement: place(known.facts, nodes, policy) })
    }
    this.#nodes = nodes
    return plan
  }

  tick(): void {
    const { clock, transfers, events } = this.#init
    const self = this.#init.self()
    const now = clock.now()
    const plan = this.compute()
    this.#plan = plan
    this.#observeBackpressure()
    this.#refill(now)

    const warm = this.#isWarm(now)
    const queued = new Map(transfers.list().map((t) => [t.sha256, t]))
    const stats: ReplicationStats = { ...this.#stats, files: plan.size, filesUnderMin: 0, bytesAtRisk: 0, syncLagMs: 0, pulling: 0, lastTickMs: now }
    // rarest first: files with the fewest copies get their pulls asked for first
    const order = [...plan.values()].sort((a, b) => a.placement.copies.length - b.placement.copies.length)
    for (const p of order) {
      const { known, policy, placement } = p
      const sha = known.facts.sha256
      const sinkCopies = this.#init.sinkCopies?.(sha, known.facts.size) ?? 0
      const under = placement.copies.length + sinkCopies < policy.minCopies
      if (under) {
        stats.filesUnderMin++
        stats.bytesAtRisk += known.facts.size
        const since = this.#underSince.get(sha) ?? now
        this.#underSince.set(sha, since)
        stats.syncLagMs = Math.max(stats.syncLagMs, now - since)
      } else this.#underSince.delete(sha)

      const held = known.facts.holders.includes(self.peerId)
      const wanted = placement.desired.includes(self.peerId)
      const t = queued.get(sha)
      if (wanted && !held) {
        if (self.evacuating || !warm) continue
        const anySourceUp = known.facts.holders.some((h) => h !== self.peerId && this.#nodes.get(h)?.state === 'up')
        if (!anySourceUp) {
          if (t == null) this.#init.noLiveSource?.(p)
          continue
        }
        stats.pulling++
        if (t != null && t.state !== 'failed') continue
        const isRepair = placement.repair && placement.copies.length < policy.minCopies
        if (isRepair && !this.#takeToken()) {
          stats.repairsDeferred++
          continue
        }
        const r = transfers.want(known.entry, { priority: placement.priority, reason: isRepair ? 'repair' : placement.desired.length > policy.minCopies ? 'broadcast' : 'replica', copies: placement.copies.length })
        if (r === 'queued') {
          if (isRepair) {
            stats.repairsStarted++
            events.emit('repair_started', { sha256: sha, path: known.facts.path, copies: placement.copies.length, minCopies: policy.minCopies })
          }
        }
      } else if (!wanted && !held && t != null && REASONS_WE_OWN.has(t.reason)) {
        // placement moved on (someone else got it first): a queued pull is no longer needed;
        // a running one is called off only once every node placement wants holds it (our copy
        // would be one too many, and trimming would delete it again after the transfer)
        if (t.state !== 'active') transfers.cancel(sha, 'placement moved on')
        else if (this.#satisfied(placement, policy)) transfers.cancel(sha, 'enough copies elsewhere')
      }
      if (known.facts.promoted && held && known.entry.origin === self.peerId) this.#checkDistributed(p)
    }
    for (const sha of this.#underSince.keys()) if (!plan.has(sha)) this.#underSince.delete(sha)
    this.#stats = stats
  }

  /** Every node placement wants holds a copy that counts, and there are at least the minimum. */
  #satisfied(placement: Placement, policy: ResolvedPolicy): boolean {
    return placement.copies.length >= policy.minCopies && placement.desired.every((n) => placement.copies.includes(n))
  }

  /** Warm once the view has had time to fill and every live peer's manifest is in (or after 10 warm-ups regardless). */
  #isWarm(now: number): boolean {
    if (this.#warm) return true
    const elapsed = now - this.#startedMs
    this.#warm = elapsed >= this.#init.warmupMs && (this.#init.viewSynced() || elapsed >= 10 * this.#init.warmupMs)
    if (!this.#warm) this.#loop.pokeIn(Math.max(100, this.#init.warmupMs - elapsed))
    return this.#warm
  }

  /** A promoted model is distributed when every eligible, live node of its roles holds it. */
  #checkDistributed(p: PlannedFile): void {
    const sha = p.known.facts.sha256
    if (this.#distributed.has(sha)) return
    const targets = [...this.#nodes.values()].filter((n) => n.state === 'up' && roleAllowed(p.policy, n.role) && !p.policy.excludeHosts.includes(n.name))
    if (targets.length === 0) return
    if (!targets.every((n) => p.known.facts.holders.includes(n.peerId))) return
    this.#distributed.add(sha)
    this.#init.events.emit('model_distributed', {
      sha256: sha,
      path: p.known.facts.path,
      nodes: targets.map((n) => n.name),
    })
  }

  #observeBackpressure(): void {
    for (const n of this.#nodes.values()) {
      if (n.state !== 'up') continue
      const prev = this.#accepting.get(n.peerId)
      this.#accepting.set(n.peerId, n.accepting)
      if (prev == null || prev === n.accepting) continue
      this.#init.events.emit(n.accepting ? 'backpressure_released' : 'backpressure_activated', {
        peer: n.peerId,
        name: n.name,
        diskLevel: n.diskLevel,
      })
    }
  }

  #refill(now: number): void {
    const perMs = this.#init.repairsPerMinute / 60_000
    this.#tokens = Math.min(this.#init.repairsPerMinute, this.#tokens + (now - this.#tokensAt) * perMs)
    this.#tokensAt = now
  }

  #takeToken(): boolean {
    if (this.#tokens < 1) return false
    this.#tokens--
    return true
  }
}

