import { mkdir, stat } from 'node:fs/promises'
import type { Database as Db } from 'better-sqlite3'
import type { Role } from '../config/schema.js'
import type { Db as StateDb } from '../state/db.js'
import type { EventLog } from '../state/event-log.js'
import type { Clock } from '../util/clock.js'
import { errorMessage } from '../util/errors.js'
import { prepareTarget } from '../util/fs.js'
import type { Logger } from '../util/log.js'
import { Loop } from '../util/loop.js'
import { mergeSource, type SourceIo } from './merge-source.js'
import { missingSources, planBuild, planConverge, supersededCopies, type RemoteVersion, type SourceVersion } from './planner.js'
import { Provenance, type MergedSource, type TargetState } from './provenance.js'
import { builds, type MergeRule } from './rules.js'
import { contentHash, mergedLog, openTarget, tableCounts } from './sql-merge.js'

export interface MergeServiceInit extends Omit<SourceIo, 'now'> {
  rules: MergeRule[]
  self: () => { peerId: string; role: Role; tags: string[] }
  db: StateDb
  /** Source versions in the local catalog. */
  local: () => Iterable<SourceVersion>
  /** Versions peers announce (peers that are up). */
  remote: () => Iterable<RemoteVersion>
  /** Pulls a version from a peer into the data dir (it lands through the normal verified path). */
  fetch: (sha256: string, from: string, signal: AbortSignal) => Promise<unknown>
  /** Removes a local file (a superseded peer copy of a target) from the data dir and the catalog. */
  drop: (path: string) => Promise<void>
  events: EventLog
  clock: Clock
  log: Logger
  /** Pulls in flight at most. */
  maxFetches?: number
}

interface PassOutcome {
  merged: MergedSource[]
  conflicts: number
  rowsAdded: number
}

/**
 * The merge service: one loop that, for every `merges.<name>` rule, builds
 * the targets this node builds (build mode: pulls the sources it lacks and
 * merges each new source version once) and keeps every local copy of a
 * converge database merged with its peers' versions. Targets are changed in
 * place in WAL-mode transactions; what went in is recorded (provenance).
 */
export class MergeService {
  readonly provenance: Provenance
  readonly #init: MergeServiceInit
  readonly #loop: Loop
  readonly #fetching = new Set<string>()
  #passes = 0
  #lastError: string | undefined

  constructor(init: MergeServiceInit) {
    this.#init = init
    this.provenance = new Provenance(init.db)
    const intervalMs = Math.min(...init.rules.map((r) => r.intervalMs), 60_000)
    this.#loop = new Loop({ name: 'merge', intervalMs, clock: init.clock, log: init.log }, (signal) => this.#pass(signal))
  }

  get rules(): MergeRule[] {
    return this.#init.rules
  }

  start(): void {
    if (this.#init.rules.length > 0) this.#loop.start()
  }

  async stop(): Promise<void> {
    await this.#loop.stop()
  }

  /** Something changed in the catalog or the view: run a pass soon. */
  poke(): void {
    this.#loop.pokeIn(200)
  }

  /** One pass now (tests, commands). */
  async runOnce(): Promise<void> {
    await this.#loop.runOnce()
  }

  status(): { rules: number; passes: number; fetching: number; lastError?: string; targets: TargetState[] } {
    return { rules: this.#init.rules.length, passes: this.#passes, fetching: this.#fetching.size, lastError: this.#lastError, targets: this.provenance.targets() }
  }

  async #pass(signal: AbortSignal): Promise<void> {
    await mkdir(this.#init.workDir, { recursive: true })
    const local = [...this.#init.local()]
    const remote = [...this.#init.remote()]
    this.#lastError = undefined
    for (const rule of this.#init.rules) {
      try {
        if (rule.mode === 'build') {
          if (!builds(rule, this.#init.self())) continue
          this.#pull(missingSources(rule, new Set(local.map((e) => e.sha256)), remote), signal)
          for (const plan of planBuild(rule, local)) {
            await this.#target(rule, plan.target, plan.sources, signal)
            await this.#prune(supersededCopies(plan.target, local, remote, () => true))
          }
        } else {
          for (const plan of planConverge(rule, local, remote)) {
            this.#pull(plan.remote, signal)
            await this.#target(rule, plan.target, plan.local, signal)
            const known = this.provenance.known(rule.name, plan.target)
            await this.#prune(supersededCopies(plan.target, local, remote, (sha) => known.get(sha) === 'merged'))
          }
        }
      } catch (err) {
        if (signal.aborted) throw err
        this.#lastError = `merges.${rule.name}: ${errorMessage(err)}`
        this.#init.log.warn({ merge: rule.name, err: errorMessage(err) }, 'merge pass failed; retried on the next pass')
      }
    }
    this.#passes++
  }

  async #prune(copies: SourceVersion[]): Promise<void> {
    for (const c of copies) {
      await this.#init.drop(c.path)
      this.#init.log.info({ path: c.path, sha256: c.sha256, origin: c.origin }, "superseded peer copy of a merge target dropped (its rows are in the local target)")
    }
  }

  #pull(versions: RemoteVersion[], signal: AbortSignal): void {
    const max = this.#init.maxFetches ?? 8
    for (const v of versions) {
      if (this.#fetching.size >= max) return
      if (this.#fetching.has(v.entry.sha256)) continue
      this.#fetching.add(v.entry.sha256)
      this.#init
        .fetch(v.entry.sha256, v.peer, signal)
        .then(() => this.poke())
        .catch((err: unknown) => this.#init.log.debug({ sha256: v.entry.sha256, peer: v.peer, err: errorMessage(err) }, 'merge source pull failed; retried on a later pass'))
        .finally(() => this.#fetching.delete(v.entry.sha256))
    }
  }

  /** Merges the versions not merged yet into one target, then checks and records its state. */
  async #target(rule: MergeRule, target: string, versions: SourceVersion[], signal: AbortSignal): Promise<void> {
    const known = this.provenance.known(rule.name, target)
    const build = rule.mode === 'build'
    const recorded = this.provenance.targets().some((t) => t.merge === rule.name && t.target === target)
    const abs = await prepareTarget(this.#init.dataDir, target)
    // a build target that is gone (an operator removed it) is built again from the start: its own log decides
    const present = await exists(abs)
    if (versions.every((v) => known.has(v.sha256)) && recorded && present) return
    const db = openTarget(abs, { create: build })
    try {
      if (build) this.#mirrorLog(rule, target, db, known)
      const log = build ? mergedLog(db) : undefined
      // build: what the target's log lacks (a version found invalid or unmergeable is not tried again); converge: what the state db lacks
      const todo = versions.filter((v) => (build ? !log!.has(v.sha256) && (known.get(v.sha256) ?? 'merged') === 'merged' : !known.has(v.sha256)))
      // the same bytes under two paths (a replica beside a copy, two identical outputs) are one version: merged once
      const once = new Set<string>()
      const out: PassOutcome = { merged: [], conflicts: 0, rowsAdded: 0 }
      for (const v of todo) {
        if (once.has(v.sha256)) continue
        once.add(v.sha256)
        signal.throwIfAborted()
        const o = await mergeSource({ ...this.#init, now: () => this.#init.clock.now() }, rule, target, db, v, { logInTarget: build, signal })
        if (o.state === 'skipped') {
          this.#init.log.debug({ merge: rule.name, target, path: v.path, reason: o.reason }, 'merge source skipped for now')
          continue
        }
        this.provenance.record(o.record)
        if (o.state !== 'merged') {
          this.#init.events.emit('merge_failed', { path: target, sha256: v.sha256, merge: rule.name, source: v.path, reason: o.reason, quarantined: o.state === 'invalid' })
          continue
        }
        out.merged.push(o.record)
        out.conflicts += o.result.conflicts
        out.rowsAdded += o.result.rowsAdded
        if (o.result.conflictKeys.length > 0) {
          this.#init.events.emit('merge_conflict', { path: target, sha256: v.sha256, merge: rule.name, source: v.path, rule: 'reject', conflicts: o.result.conflicts, keys: o.result.conflictKeys })
        }
      }
      this.#finish(rule, target, db, out, recorded)
    } finally {
      db.close()
    }
  }

  /** A crash between the target's commit and the state db's: the target's own log says what is in it. */
  #mirrorLog(rule: MergeRule, target: string, db: Db, known: Map<string, string>): void {
    for (const [sha256, l] of mergedLog(db)) {
      if (known.get(sha256) === 'merged') continue
      const rowsAdded = Object.values(l.tables).reduce((n, x) => n + x, 0)
      const tables = Object.fromEntries(Object.entries(l.tables).map(([t, added]) => [t, { added, sourceRows: added }]))
      this.provenance.record({ merge: rule.name, target, sha256, sourcePath: l.sourcePath, origin: l.origin, version: l.version, state: 'merged', rowsAdded, rowsUpdated: 0, conflicts: 0, tables, timeMs: this.#init.clock.now() })
      known.set(sha256, 'merged')
    }
  }

  /**
   * The row-count check over the whole target: for a build target, rows in
   * each table = the rows its merged sources added (each merge already
   * checked that every key of its source is in the target, so this is the
   * number of distinct keys across the merged sources).
   */
  #finish(rule: MergeRule, target: string, db: Db, out: PassOutcome, recorded: boolean): void {
    const counts = tableCounts(db, rule.tables)
    const rowsTotal = Object.values(counts).reduce((n, x) => n + x, 0)
    let countOk = true
    let sources = this.provenance.sources({ merge: rule.name, target }).filter((s) => s.state === 'merged').length
    if (rule.mode === 'build') {
      const log = mergedLog(db)
      sources = log.size
      const expected: Record<string, number> = {}
      for (const l of log.values()) for (const [t, n] of Object.entries(l.tables)) expected[t] = (expected[t] ?? 0) + n
      countOk = rule.tables.every((t) => (expected[t.name] ?? 0) === counts[t.name])
      if (!countOk) {
        this.#init.events.emit('merge_failed', { path: target, merge: rule.name, reason: `row count check: target has ${JSON.stringify(counts)} rows, its merged sources added ${JSON.stringify(expected)}` })
      }
    }
    if (out.merged.length === 0 && recorded) return
    const hash = contentHash(db, rule.tables)
    this.provenance.setTarget({ merge: rule.name, target, mode: rule.mode, rowsTotal, tables: counts, contentHash: hash, countOk, sources, timeMs: this.#init.clock.now() })
    if (out.merged.length === 0) return
    this.#init.events.emit('database_merged', {
      path: target,
      merge: rule.name,
      mode: rule.mode,
      sources,
      merged: out.merged.map((m) => ({ path: m.sourcePath, sha256: m.sha256, rowsAdded: m.rowsAdded })),
      rowsAdded: out.rowsAdded,
      rowsTotal,
      tables: counts,
      conflicts: out.conflicts,
      countOk,
      contentHash: hash,
    })
    this.#init.log.info({ merge: rule.name, target, merged: out.merged.length, rowsAdded: out.rowsAdded, rowsTotal, countOk }, 'database merged')
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}
