import { join } from 'node:path'
import type { ManifestEntry } from '../../protocols/manifest/index.js'
import type { LocalFile, LocalManifest } from '../catalog/local-manifest.js'
import type { ResolvedConfig } from '../config/load.js'
import { policyFor } from '../config/policies.js'
import { PRIORITIES, type Priority } from '../config/schema.js'
import type { Attestation } from '../replication/deletion-guard.js'
import type { PlannedFile, ReplicationPlanner } from '../replication/planner.js'
import type { Db } from '../state/db.js'
import type { EventLog } from '../state/event-log.js'
import type { LandingInit } from '../transfer/landing.js'
import type { RateLimiter } from '../transfer/rate-limiter.js'
import type { Clock } from '../util/clock.js'
import { errorMessage } from '../util/errors.js'
import type { Logger } from '../util/log.js'
import { BackupLoop } from './backup.js'
import type { Sink } from './index.js'
import { restoreOne } from './restore.js'
import { SinkCopyStore } from './store.js'
import { openSink, verifySinkCopy } from './verify.js'

export interface SinksInit {
  cfg: ResolvedConfig
  self: string
  db: Db
  manifest: LocalManifest
  planner: ReplicationPlanner
  snapshotDir: string
  limiter: RateLimiter
  /** The node's landing and staging folder, for restoring files no live node holds. */
  landing: LandingInit
  stagingDir: string
  events: EventLog
  clock: Clock
  log: Logger
}

/**
 * A node's sinks: the configured sinks, the record of verified sink copies,
 * the backup loop, and what the deletion rule and /files ask of them.
 */
export class NodeSinks {
  readonly sinks = new Map<string, Sink>()
  readonly store: SinkCopyStore
  readonly backup: BackupLoop
  readonly requireBackup: boolean
  readonly #verifyMaxAgeMs: number
  readonly #clock: Clock
  /** Sinks whose client could not be made (credentials missing...): named in status, never reachable. */
  readonly broken = new Map<string, string>()
  /** Files placement wants here that no live node holds, by SHA-256: restored from a sink on the backup loop's next tick. */
  readonly #pending = new Map<string, ManifestEntry>()
  readonly #init: SinksInit

  constructor(init: SinksInit) {
    const { cfg } = init
    this.#init = init
    for (const [name, s] of Object.entries(cfg.sinks.targets)) {
      try {
        this.sinks.set(name, openSink(name, s))
      } catch (err) {
        this.broken.set(name, errorMessage(err))
        init.log.error({ sink: name, err: errorMessage(err) }, 'sink cannot be used')
      }
    }
    this.store = new SinkCopyStore(init.db)
    this.requireBackup = cfg.disk.requireBackupForDelete
    this.#verifyMaxAgeMs = cfg.sinks.verifyMaxAgeSeconds * 1000
    this.#clock = init.clock
    let plan: Map<string, PlannedFile> = new Map()
    const t = cfg.transfer
    this.backup = new BackupLoop({
      self: init.self,
      sinks: this.sinks,
      store: this.store,
      files: () => init.manifest.all(),
      localPath: (f: LocalFile) => (f.snapshot != null ? join(init.snapshotDir, f.snapshot) : join(cfg.dataDir, ...f.path.split('/'))),
      policyFor: (path, kind) => policyFor(cfg.resolvedPolicies, path, kind),
      refresh: () => {
        plan = init.planner.compute()
      },
      holders: (sha) => plan.get(sha)?.known.facts.holders ?? [init.self],
      nodes: () => init.planner.nodes(),
      limiter: init.limiter,
      weight: (p) => PRIORITIES[p as Priority] ?? 1,
      events: init.events,
      clock: init.clock,
      log: init.log,
      intervalMs: cfg.sinks.intervalSeconds * 1000,
      verifyMaxAgeMs: this.#verifyMaxAgeMs,
      rehashIntervalMs: cfg.sinks.rehashIntervalSeconds * 1000,
      backoffBaseMs: t.backoffBaseSeconds * 1000,
      backoffMaxMs: t.backoffMaxSeconds * 1000,
      after: (signal) => this.#restorePending(signal),
    })
  }

  /** The planner found no live source for a file placement wants here. */
  wantRestore(p: PlannedFile): void {
    if (this.sinks.size === 0 || this.#pending.has(p.known.facts.sha256)) return
    if (this.#init.manifest.bySha(p.known.facts.sha256).length > 0) return
    this.#pending.set(p.known.facts.sha256, p.known.entry)
    this.backup.poke()
  }

  /**
   * Pulls each pending file from the first reachable sink whose copy's size
   * and stored checksum match, chunk-verified against the manifest entry and
   * landed like any transfer. A file that a live node can send again is left
   * to the planner.
   */
  async #restorePending(signal: AbortSignal): Promise<void> {
    const reachable = new Set(this.backup.reachable())
    for (const [sha, entry] of [...this.#pending]) {
      if (signal.aborted) return
      this.#pending.delete(sha)
      if (this.#init.manifest.bySha(sha).length > 0) continue
      const live = this.#init.planner.planned(sha)?.known.facts.holders.some((h) => h !== this.#init.self && this.#init.planner.nodes().get(h)?.state === 'up')
      if (live === true) continue
      for (const [name, sink] of this.sinks) {
        if (!reachable.has(name)) continue
        try {
          const v = await verifySinkCopy(sink, { sha256: sha, size: entry.size, kind: entry.kind, chunkRoot: entry.chunkRoot }, { rehash: false, signal })
          if (!v.ok) continue
          await restoreOne({ landing: this.#init.landing, stagingDir: this.#init.stagingDir }, sink, entry, signal)
          this.#init.events.emit('restore_completed', { sha256: sha, path: entry.path, size: entry.size, sink: name })
          this.#init.planner.poke()
          break
        } catch (err) {
          if (signal.aborted) return
          this.#init.events.emit('backup_failed', { sha256: sha, path: entry.path, sink: name, reason: `restore: ${errorMessage(err)}` })
        }
      }
    }
  }

  /** Sinks whose copy of the file was verified within sinks.verifyMaxAgeSeconds (what /files and status count). */
  copies(sha256: string, size: number): string[] {
    if (this.sinks.size === 0) return []
    return this.store.verifiedSinks(sha256, size, this.#clock.now(), this.#verifyMaxAgeMs)
  }

  /**
   * The sinks' attestations for the deletion rule: a sink copy verified
   * within the bound, whose size and stored checksum read back right now
   * still match. A sink that cannot be reached attests nothing.
   */
  async attest(sha256: string, size: number, signal: AbortSignal): Promise<Attestation[]> {
    const out: Attestation[] = []
    for (const name of this.copies(sha256, size)) {
      const sink = this.sinks.get(name)
      if (sink == null) continue
      try {
        const v = await verifySinkCopy(sink, { sha256, size, kind: 'other', chunkRoot: '' }, { rehash: false, signal })
        if (v.ok) out.push({ peer: `sink:${name}`, sha256, size, timeMs: this.#clock.now() })
      } catch {
        // unreachable: no attestation
      }
    }
    return out
  }

  status(): object[] {
    return [...this.backup.status(), ...[...this.broken].map(([name, error]) => ({ name, reachable: false, reason: 'credentials', error }))]
  }
}
