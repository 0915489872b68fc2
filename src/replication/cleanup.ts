import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { LocalFile, LocalManifest } from '../catalog/local-manifest.js'
import type { DiskLevel } from '../../protocols/health/index.js'
import type { EventLog } from '../state/event-log.js'
import type { Clock } from '../util/clock.js'
import { errorMessage } from '../util/errors.js'
import type { Logger } from '../util/log.js'
import { Loop } from '../util/loop.js'
import type { Attestation, DeletionGuard } from './deletion-guard.js'
import { hrwScore, nodeWeight } from './placement.js'
import type { PlannedFile, ReplicationPlanner } from './planner.js'

export interface CleanupInit {
  self: string
  dataDir: string
  manifest: LocalManifest
  planner: ReplicationPlanner
  guard: DeletionGuard
  /** Asks `peer` to attest its copy; rejects on refusal or timeout. */
  attest(peer: string, sha256: string, size: number, signal: AbortSignal): Promise<Attestation>
  /** Re-reads the disk and returns its level. */
  diskLevel(): Promise<DiskLevel>
  /** Verified copies elsewhere a delete needs at least (disk.requiredCopiesForDelete). */
  requiredCopies: number
  /**
   * Backup sinks (src/sinks/wiring.ts). A sink copy verified within its bound, read back
   * again at the moment of deleting, counts as one of the copies a delete needs (at most one
   * sink, and never instead of the first live node); with requireBackup, a delete needs one.
   */
  sinks?: {
    copies(sha256: string, size: number): string[]
    attest(sha256: string, size: number, signal: AbortSignal): Promise<Attestation[]>
    requireBackup: boolean
  }
  attestTimeoutMs: number
  events: EventLog
  clock: Clock
  log: Logger
  intervalMs: number
}

export interface CleanupStats {
  deleted: number
  bytesFreed: number
  refused: number
  lastRunMs: number
}

export type DeleteOutcome = { deleted: true; attestedBy: string[] } | { deleted: false; reason: string }

/**
 * Frees disk under pressure, and trims copies beyond a policy's maximum,
 * without ever taking a file below the verified copies the rules demand.
 *
 * - At the cleanup threshold (disk level `full`), files this node need not
 *   hold go first (placement does not want them here), those with the most
 *   copies elsewhere first, largest first, until the level drops.
 * - A file with more copies than its policy's maximum, where this node is
 *   the lowest-ranked holder, is trimmed here.
 * - Every delete goes through the deletion guard: intent, then fresh signed
 *   attestations from at least max(requiredCopies, minCopies) other live
 *   holders (a timeout counts as no copy), then the delete. A file's absence
 *   elsewhere never causes a delete here.
 */
export class Cleanup {
  readonly #init: CleanupInit
  readonly #loop: Loop
  #stats: CleanupStats = { deleted: 0, bytesFreed: 0, refused: 0, lastRunMs: 0 }

  constructor(init: CleanupInit) {
    this.#init = init
    this.#loop = new Loop({ name: 'cleanup', intervalMs: init.intervalMs, clock: init.clock, log: init.log }, (signal) => this.run(signal))
  }

  start(): void {
    this.#loop.start(false)
  }

  async stop(): Promise<void> {
    await this.#loop.stop()
  }

  poke(): void {
    this.#loop.poke()
  }

  get stats(): CleanupStats {
    return this.#stats
  }

  async run(signal: AbortSignal): Promise<void> {
    const { planner, self } = this.#init
    this.#stats.lastRunMs = this.#init.clock.now()
    let level = await this.#init.diskLevel()
    const local = this.#localBySha()
    const plan = planner.compute()
    const nodes = planner.nodes()

    if (level === 'full') {
      const candidates = [...local.keys()]
        .map((sha) => plan.get(sha))
        .filter((p): p is PlannedFile => p != null)
        .sort((a, b) => {
          const wa = a.placement.desired.includes(self) ? 1 : 0
          const wb = b.placement.desired.includes(self) ? 1 : 0
          return wa - wb || this.#othersUp(b).length - this.#othersUp(a).length || b.known.facts.size - a.known.facts.size
        })
      for (const p of candidates) {
        if (signal.aborted || level !== 'full') break
        if (this.#othersUp(p).length + this.#sinkBonus(p) < this.#required(p)) continue
        if (this.#init.sinks?.requireBackup === true && this.#init.sinks.copies(p.known.facts.sha256, p.known.facts.size).length === 0) continue
        const out = await this.deleteGuarded(p, 'disk_pressure', signal)
        if (out.deleted) level = await this.#init.diskLevel()
      }
      return
    }

    // trim copies beyond the maximum where this node ranks last among the holders
    for (const sha of local.keys()) {
      if (signal.aborted) break
      const p = plan.get(sha)
      if (p == null || p.placement.desired.includes(self) || p.known.entry.origin === self) continue
      const copies = p.placement.copies
      if (copies.length <= p.policy.maxCopies) continue
      const ranked = [...copies].sort((a, b) => {
        const na = nodes.get(a)
        const nb = nodes.get(b)
        return hrwScore(sha, b, nb != null ? nodeWeight(nb) : 1) - hrwScore(sha, a, na != null ? nodeWeight(na) : 1)
      })
      if (!ranked.slice(p.policy.maxCopies).includes(self)) continue
      if (this.#othersUp(p).length < Math.max(this.#required(p), p.policy.maxCopies)) continue
      await this.deleteGuarded(p, 'over_max_copies', signal)
    }
  }

  /** Deletes this node's copies of a planned file under the deletion rules. */
  async deleteGuarded(p: PlannedFile, why: string, signal: AbortSignal): Promise<DeleteOutcome> {
    const { guard, events, manifest, clock } = this.#init
    const sha = p.known.facts.sha256
    const local = manifest.bySha(sha)
    if (local.length === 0) return { deleted: false, reason: 'not held here' }
    const required = this.#required(p)
    const refuse = (reason: string, data: Record<string, unknown> = {}): DeleteOutcome => {
      this.#stats.refused++
      events.emit('cleanup_refused', { sha256: sha, path: local[0]!.path, reason, required, why, ...data })
      return { deleted: false, reason }
    }
    if (this.#init.sinks?.requireBackup === true && this.#init.sinks.copies(sha, p.known.facts.size).length === 0) {
      return refuse('no sink copy verified within sinks.verifyMaxAgeSeconds (disk.requireBackupForDelete)')
    }
    if (!guard.begin(sha)) return refuse('this node granted a lease on it (another node is deleting it) or is deleting it already')
    try {
      const holders = this.#othersUp(p)
      const timeout = AbortSignal.any([signal, AbortSignal.timeout(this.#init.attestTimeoutMs)])
      const askedAt = clock.now()
      const results = await Promise.allSettled(holders.map((peer) => this.#init.attest(peer, sha, p.known.facts.size, timeout)))
      const atts: Attestation[] = []
      const failures: string[] = []
      for (const [i, r] of results.entries()) {
        if (r.status === 'fulfilled') atts.push(r.value)
        else failures.push(`${holders[i]}: ${errorMessage(r.reason)}`)
      }
      // an answer that came after the timeout does not count
      const fresh = atts.filter((a) => a.timeMs - askedAt <= this.#init.attestTimeoutMs)
      const sinkAtts = this.#init.sinks != null ? await this.#init.sinks.attest(sha, p.known.facts.size, timeout) : []
      if (this.#init.sinks?.requireBackup === true && sinkAtts.length === 0) {
        return refuse('no sink copy verified within sinks.verifyMaxAgeSeconds (disk.requireBackupForDelete)', { attestedBy: fresh.map((a) => a.peer), failures })
      }
      // a sink counts as one copy at most, and only beside at least one live node's attestation
      const counted = fresh.length > 0 ? [...fresh, ...sinkAtts.slice(0, 1)] : fresh
      const live = (peer: string): boolean => (peer.startsWith('sink:') ? counted.some((a) => a.peer === peer) : this.#init.planner.nodes().get(peer)?.state === 'up')
      if (!guard.mayDelete(sha, counted, live)) {
        return refuse('not enough verified copies elsewhere', { attestedBy: counted.map((a) => a.peer), failures })
      }
      let bytes = 0
      for (const f of local) {
        manifest.remove(f.path)
        await rm(join(this.#init.dataDir, f.path), { force: true })
        bytes += f.size
        events.emit('file_deleted', { sha256: sha, path: f.path, size: f.size, why, attestedBy: counted.map((a) => a.peer) })
      }
      this.#stats.deleted++
      this.#stats.bytesFreed += bytes
      this.#init.planner.poke()
      return { deleted: true, attestedBy: counted.map((a) => a.peer) }
    } finally {
      guard.end(sha)
    }
  }

  #required(p: PlannedFile): number {
    return Math.max(this.#init.requiredCopies, p.policy.minCopies)
  }

  /** 1 when a verified sink copy may stand in for one of the copies (see CleanupInit.sinks). */
  #sinkBonus(p: PlannedFile): number {
    if (this.#init.sinks == null || this.#othersUp(p).length === 0) return 0
    return this.#init.sinks.copies(p.known.facts.sha256, p.known.facts.size).length > 0 ? 1 : 0
  }

  /** Other holders that are up now (the only ones that can attest). */
  #othersUp(p: PlannedFile): string[] {
    const nodes = this.#init.planner.nodes()
    return p.known.facts.holders.filter((h) => h !== this.#init.self && nodes.get(h)?.state === 'up')
  }

  #localBySha(): Map<string, LocalFile[]> {
    const out = new Map<string, LocalFile[]>()
    for (const f of this.#init.manifest.all()) {
      const list = out.get(f.sha256) ?? []
      list.push(f)
      out.set(f.sha256, list)
    }
    return out
  }
}
