import { mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { resolveLayers } from '../../src/config/load.js'
import { policyFor, type ResolvedPolicy } from '../../src/config/policies.js'
import type { Kind } from '../../src/config/schema.js'
import { generateFile } from '../data/generate.js'
import { NetnsNet } from '../harness/netns.js'
import { InProcessNode, ProcNode, SIM_BASE_SETTINGS, type SimNode } from '../harness/sim-node.js'
import { restoreSimNode } from '../harness/restore-sim-node.js'
import { SimSinks } from '../harness/sim-sinks.js'
import { renderReportHtml } from '../report/html.js'
import type { SimFault, SimReport } from '../report/types.js'
import { loadScenario } from '../scenario/load.js'
import type { Scenario } from '../scenario/schema.js'
import { plan as makePlan, type Action, type Plan, type PlannedWrite } from '../scenario/plan.js'
import { hashFile, DiskScanner, type DiskFile } from './disk-scan.js'
import { convergence, copiesRequired, corruptVisible, INVARIANTS, noDataLost, noStorm, nothingCorruptVisible, type Breach } from './invariants.js'
import { Ledger } from './ledger.js'
import { MergeCheck } from './merge-check.js'
import { GossipProbe } from './gossip-probe.js'
import { Observer } from './observer.js'
import { checkSinkCopies, notYetInSinks } from './sink-copies.js'
import { buildReport } from './report.js'

export type SimMode = 'inprocess' | 'processes' | 'netns'

export interface SimOptions {
  /** A scenario name (sim/scenarios/NAME.yaml), a YAML file, or a parsed scenario (benchmarks). */
  scenario: string | Scenario
  nodes?: number
  durationS?: number
  seed?: number
  mode?: SimMode
  /** Where report.json, report.html and node logs go. */
  reportDir: string
  /** Where the nodes' data dirs go (default: a temp folder, removed at the end unless keep). */
  workDir?: string
  keep?: boolean
  /** Upper bound on the settle phase, seconds (default: the scenario's). */
  settleS?: number
  /** Progress lines (default: stderr). */
  progress?: (line: string) => void
  /** A log level for in-process nodes' logs (default: silent). */
  nodeLogLevel?: string
}

export interface SimOutcome {
  report: SimReport
  ok: boolean
  breaches: Breach[]
  reportJson: string
  reportHtml: string
}

const KIND_OF: Record<string, Kind> = { sqlite: 'sqlite', npz: 'npz', model: 'model', blob: 'other' }

/** Runs one scenario end to end and writes its report. */
export async function runSim(o: SimOptions): Promise<SimOutcome> {
  const { scenario, file } = typeof o.scenario === 'string' ? loadScenario(o.scenario) : { scenario: o.scenario, file: '(built by a benchmark)' }
  const p = makePlan(scenario, { seed: o.seed, nodes: o.nodes, durationS: o.durationS })
  const run = new Run(p, { ...o, mode: o.mode ?? scenario.mode }, file)
  return run.execute()
}

class Run {
  readonly plan: Plan
  readonly o: SimOptions & { mode: SimMode }
  readonly file: string
  readonly ledger = new Ledger()
  readonly faults: SimFault[] = []
  readonly nodes: SimNode[] = []
  readonly byName = new Map<string, SimNode>()
  readonly settings = new Map<string, Record<string, unknown>>()
  readonly policies: ResolvedPolicy[]
  /** Build merges of the scenario config: their targets are written by the nodes (not in the ledger), checked by mergedExactlyOnce. */
  readonly merges: MergeCheck
  readonly scanner = new DiskScanner()
  readonly corrupt = new Map<string, { path: string; node: string; sha256: string; expected?: string; atMs: number }>()
  readonly fate = new Map<string, 'killed' | 'gone' | 'replaced'>()
  /** Partitions in force: id -> sides. */
  readonly partitions = new Map<number, string[][]>()
  readonly chains = new Map<string, Promise<void>>()
  /** The action each node's queue is running now (for the 'still waiting' line). */
  readonly pending = new Map<string, { what: string; sinceMs: number }>()
  readonly log: (line: string) => void
  observer!: Observer
  /** Gossip latency in processes and netns modes (in-process nodes are hooked instead). */
  probe: GossipProbe | undefined
  net: NetnsNet | undefined
  /** The scenario's backup sinks (a folder, an s3rver on loopback), when it declares any. */
  sinks: SimSinks | undefined
  workDir = ''
  scans = 0
  filesChecked = 0
  /**
   * Each node's writes, in order (one producer per node, as on a real host;
   * one queue for all would hold every node's data behind the slowest write).
   */
  readonly writeChains = new Map<string, Promise<void>>()
  /** Writes running now (for the 'still' line). */
  readonly #writing = new Set<string>()
  /** What the run is doing, and since when (a line every 30 s says it when it takes long). */
  #phase = { what: 'starting', sinceMs: Date.now() }
  /** Kills and evacuations, for failure detection and repair figures. */
  readonly losses: { t: number; node: string; peerIds: string[]; files: Map<string, number>; repairedAt?: number; returnedAt?: number }[] = []
  convergedSince: number | undefined
  lastDisagreements: string[] = []
  quietAtMs = 0
  startedAt = new Date()

  constructor(plan: Plan, o: SimOptions & { mode: SimMode }, file: string) {
    this.plan = plan
    this.o = o
    this.file = file
    this.log = o.progress ?? ((l) => process.stderr.write(`${l}\n`))
    const probe = resolveLayers([{ source: 'scenario config', values: { ...SIM_BASE_SETTINGS, ...plan.scenario.config, 'node.name': 'policy-probe' } }], { cwd: process.cwd() })
    this.policies = probe.resolvedPolicies
    this.merges = new MergeCheck(probe.merges, () => this.workDir)
  }

  async execute(): Promise<SimOutcome> {
    const s = this.plan.scenario
    this.log(`sim: scenario ${s.name}, ${this.plan.nodes.length} nodes, ${this.o.mode} mode, seed ${this.plan.seed}, ${this.plan.durationMs / 1000} s`)
    await mkdir(this.o.reportDir, { recursive: true })
    this.workDir = this.o.workDir != null ? resolve(this.o.workDir) : await mkdtemp(join(tmpdir(), 'meshsync-sim-'))
    await mkdir(this.workDir, { recursive: true })
    let outcome: SimOutcome | undefined
    const watchdog = setInterval(() => {
      const s = (Date.now() - this.#phase.sinceMs) / 1000
      if (s < 30) return
      const now = this.observer?.now() ?? 0
      const detail =
        this.#phase.what === 'waiting for writes'
          ? [...this.#writing]
          : this.#phase.what === 'waiting for node actions'
            ? [...this.pending].map(([node, p]) => `${node} ${p.what} (${((now - p.sinceMs) / 1000).toFixed(0)} s)`)
            : []
      this.log(`sim: still ${this.#phase.what} (${s.toFixed(0)} s)${detail.length > 0 ? `: ${detail.slice(0, 5).join(', ')}` : ''}`)
    }, 30_000)
    watchdog.unref()
    try {
      this.#enter('setting up')
      await this.#setup()
      this.#enter('starting nodes')
      await this.#startAll()
      this.#enter('running the timeline')
      await this.#runTimeline()
      this.#enter('settling')
      await this.#settle()
      this.#enter('checking the invariants')
      outcome = await this.#finish()
    } finally {
      this.#enter('stopping nodes')
      await this.#teardown()
      clearInterval(watchdog)
    }
    return outcome
  }

  async #setup(): Promise<void> {
    const logs = join(this.o.reportDir, 'logs')
    if (this.o.mode !== 'inprocess') await mkdir(logs, { recursive: true })
    if (this.o.mode === 'netns') this.net = await NetnsNet.create(this.plan.nodes.length)
    // beside the nodes' data dirs (named GROUP-i, so '_sinks' is no node's)
    this.sinks = await SimSinks.start(this.plan.scenario, join(this.workDir, '_sinks'), this.policies, this.o.mode)
    const sinkSettings = this.sinks?.settings() ?? {}
    for (const n of this.plan.nodes) {
      const id = { name: n.name, role: n.role, provider: n.provider, ephemeral: n.ephemeral, tags: n.tags, dataDir: join(this.workDir, n.name), latencyMs: n.latencyMs }
      const node =
        this.o.mode === 'inprocess'
          ? new InProcessNode(id, this.o.nodeLogLevel)
          : new ProcNode(id, { logFile: join(logs, `${n.name}.log`), host: this.net?.host(n.index), wrap: this.net?.wrap(n.index) })
      this.nodes.push(node)
      this.byName.set(n.name, node)
      this.settings.set(n.name, { ...n.settings, ...sinkSettings })
      if (this.net != null && n.link != null) await this.net.capLink(n.index, n.link)
    }
  }

  #bootstrapFor(except: SimNode): string[] {
    return this.nodes
      .filter((n) => n !== except && n.alive && n.addresses.length > 0)
      .slice(0, 3)
      .map((n) => n.addresses[0]!)
  }

  async #startNode(n: SimNode): Promise<void> {
    await n.start(this.#bootstrapFor(n), this.settings.get(n.name) ?? {})
    this.observer?.noteStart(n)
    // partitions in force apply to a node that comes back (the gater forgets on restart)
    for (const sides of this.partitions.values()) await this.#applyPartition(sides, n)
  }

  async #startAll(): Promise<void> {
    const t = Date.now()
    const [first, ...rest] = this.nodes
    await first!.start([], this.settings.get(first!.name) ?? {})
    const batch = this.o.mode === 'inprocess' ? 8 : 4
    for (let i = 0; i < rest.length; i += batch) {
      await Promise.all(rest.slice(i, i + batch).map((n) => n.start(this.#bootstrapFor(n), this.settings.get(n.name) ?? {})))
    }
    this.log(`sim: ${this.nodes.length} nodes started in ${((Date.now() - t) / 1000).toFixed(1)} s; waiting for the cluster to form`)
    const want = this.nodes.length - 1
    const deadline = Date.now() + Math.max(60_000, this.nodes.length * 3000)
    for (;;) {
      const snaps = await Promise.all(this.nodes.map((n) => n.snapshot().catch(() => undefined)))
      const up = snaps.map((s) => (s == null ? 0 : s.peers.filter((p) => p.state === 'up').length)).sort((a, b) => a - b)
      if (up[0]! >= want) break
      if (Date.now() > deadline) {
        const summary = `fewest peers up ${up[0]}, median ${up[Math.floor(up.length / 2)]}, of ${want}`
        // at scale a full view can lag; go on when every node sees most of the others, and say so
        if (up[0]! >= Math.ceil(want * 0.8)) {
          this.log(`sim: warning: the cluster has not fully formed (${summary}); starting anyway`)
          break
        }
        throw new Error(`the cluster did not form within ${Math.round((deadline - t) / 1000)} s: ${summary}`)
      }
      await sleep(1000)
    }
    this.observer = new Observer(Date.now(), this.ledger)
    for (const n of this.nodes) this.observer.noteStart(n)
    this.log(`sim: cluster formed in ${((Date.now() - t) / 1000).toFixed(1)} s`)
  }

  #fault(type: string, node: string | undefined, detail?: string): void {
    this.faults.push({ t: this.observer.now(), type, node, detail })
    this.log(`sim: ${(this.observer.now() / 1000).toFixed(1).padStart(6)} s  ${type}${node != null ? ` ${node}` : ''}${detail != null ? ` (${detail})` : ''}`)
  }

  /** Runs `fn` after whatever is already queued for this node. */
  #enter(what: string): void {
    this.#phase = { what, sinceMs: Date.now() }
  }

  #onNode(name: string, what: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(name) ?? Promise.resolve()
    const run = async (): Promise<void> => {
      this.pending.set(name, { what, sinceMs: this.observer.now() })
      try {
        await fn()
      } finally {
        this.pending.delete(name)
      }
    }
    const next = prev.then(run).catch((err) => this.log(`sim: ${name}: ${(err as Error).message}`))
    this.chains.set(name, next)
    return next
  }

  async #runTimeline(): Promise<void> {
    const items: ({ kind: 'write'; t: number; w: PlannedWrite } | { kind: 'action'; t: number; a: Action })[] = [
      ...this.plan.writes.map((w) => ({ kind: 'write' as const, t: w.t, w })),
      ...this.plan.actions.map((a) => ({ kind: 'action' as const, t: a.t, a })),
    ].sort((a, b) => a.t - b.t)
    if (!this.nodes.every((n) => n.precise)) {
      this.probe = new GossipProbe(Math.max(200, this.nodes.length * 25))
      this.probe.start(this.nodes, () => this.observer.now())
    }
    let sampling = true
    const sampler = (async () => {
      let i = 0
      while (sampling) {
        await this.#sample(i++ % 5 === 0)
        await sleep(this.plan.scenario.sampleEvery * 1000)
      }
    })()
    for (const item of items) {
      const wait = item.t - this.observer.now()
      if (wait > 0) await sleep(wait)
      if (item.kind === 'write') {
        const w = item.w
        const prev = this.writeChains.get(w.node) ?? Promise.resolve()
        this.writeChains.set(w.node, prev.then(() => this.#write(w)).catch((err) => this.log(`sim: write ${w.path}: ${(err as Error).message}`)))
      } else void this.#act(item.a)
    }
    this.#enter('waiting for writes')
    await Promise.all(this.writeChains.values())
    this.#enter('waiting for node actions')
    await Promise.all(this.chains.values())
    this.#enter('running the timeline')
    const rest = this.plan.durationMs - this.observer.now()
    if (rest > 0) await sleep(rest)
    this.#enter('waiting for node actions')
    await Promise.all(this.chains.values())
    // the plan's times are when writes start; on a loaded machine (in-process: one event loop for the nodes and the
    // generators) the last one can land well after that, and nothing can converge before it has
    this.quietAtMs = Math.max(this.plan.quietAtMs, this.#lastFaultAt(), this.#lastWriteAt())
    sampling = false
    this.#enter('waiting for the last sample')
    await sampler
  }

  /** When the last write landed (ms since start): its ledger entry is made just before the rename into place. */
  #lastWriteAt(): number {
    return this.ledger.all().reduce((m, f) => Math.max(m, f.createdAtMs), 0)
  }

  #lastFaultAt(): number {
    return this.faults.reduce((m, f) => Math.max(m, f.t), 0)
  }

  async #write(w: PlannedWrite): Promise<void> {
    const node = this.byName.get(w.node)!
    if (!node.alive) return
    const what = `${w.node}:${w.path}`
    this.#writing.add(what)
    try {
      await this.#writeNow(w, node)
    } finally {
      this.#writing.delete(what)
    }
  }

  async #writeNow(w: PlannedWrite, node: SimNode): Promise<void> {
    const abs = join(node.dataDir, w.path)
    // made under a name nobody catalogs or checks (*.tmp), in the ledger, then renamed into place:
    // a disk scan between the rename and the ledger entry would see a file nobody wrote
    const made = `${abs}.sim.tmp`
    await generateFile(w.kind, made, w.size, this.plan.seed, w.label)
    const sha256 = await hashFile(made)
    const { size } = await stat(made)
    const policy = policyFor(this.policies, w.path, KIND_OF[w.kind]!)
    this.ledger.add({ sha256, path: w.path, size, kind: w.kind, origin: w.node, minCopies: policy.minCopies, policy: policy.name, createdAtMs: this.observer.now() })
    await rename(made, abs)
  }

  /** Starts an action; per-node actions queue behind the node's earlier ones (the promise is for that queue). */
  #act(a: Action): Promise<void> | undefined {
    switch (a.type) {
      case 'kill':
        return this.#onNode(a.node, a.type, async () => {
          const n = this.byName.get(a.node)!
          if (!n.alive) return
          this.#recordLoss(n)
          const how = this.o.mode === 'inprocess' ? 'abrupt stop' : 'kill -9'
          this.#fault('kill', a.node, a.cause === 'churn' ? `churn, ${how}` : how)
          await n.crash()
          this.fate.set(a.node, 'killed')
        })
      case 'evacuate':
        return this.#onNode(a.node, a.type, async () => {
          const n = this.byName.get(a.node)!
          if (!n.alive) return
          this.#fault('evacuate', a.node, `SIGTERM, deadline ${a.deadlineMs / 1000} s`)
          const began = this.observer.now()
          this.#recordLoss(n)
          await n.terminate(a.deadlineMs)
          this.#fault('exited', a.node, `after ${((this.observer.now() - began) / 1000).toFixed(1)} s`)
          this.fate.set(a.node, 'gone')
        })
      case 'restart':
        return this.#onNode(a.node, a.type, async () => {
          const n = this.byName.get(a.node)!
          if (n.alive) return
          await this.#startNode(n)
          this.fate.delete(a.node)
          this.#returned(a.node)
          this.#fault('restart', a.node, `peer ${n.peerId.slice(-8)}`)
        })
      case 'new-identity':
        return this.#onNode(a.node, a.type, async () => {
          const n = this.byName.get(a.node)!
          if (!n.alive) return
          const old = n.peerId
          this.#recordLoss(n)
          await n.crash()
          await n.dropIdentity()
          this.#fault('new-identity', a.node, `identity.key deleted; was ${old.slice(-8)}`)
          await sleep(a.downForMs)
          await this.#startNode(n)
          this.fate.set(a.node, 'replaced')
          this.#fault('restart', a.node, `new peer ${n.peerId.slice(-8)}`)
        })
      case 'reconfigure':
        return this.#onNode(a.node, a.type, async () => {
          const n = this.byName.get(a.node)!
          Object.assign(this.settings.get(a.node)!, a.settings)
          const what = Object.entries(a.settings).map(([k, v]) => `${k}=${v}`).join(', ')
          if (a.why === 'cap-link' && this.net != null && a.link != null) {
            await this.net.capLink(this.plan.nodes.find((p) => p.name === a.node)!.index, a.link)
            this.#fault('cap-link', a.node, `tc htb ${what}`)
            return
          }
          if (!n.alive) return
          this.#fault(a.why, a.node, `restart with ${what}`)
          await n.stop()
          await this.#startNode(n)
        })
      case 'fill':
        return this.#onNode(a.node, a.type, async () => {
          const n = this.byName.get(a.node)!
          if (!n.alive) return
          this.#fault('fill-disk', a.node, `${(a.bytes / 2 ** 20).toFixed(0)} MiB of new data, quota ${this.settings.get(a.node)?.['disk.quota']}`)
          for (let i = 0, done = 0; done < a.bytes; i++) {
            const size = Math.min(a.fileSize, a.bytes - done)
            const path = `fill/${a.node}/fill_${String(i).padStart(4, '0')}.bin`
            await this.#write({ t: a.t, node: a.node, kind: 'blob', path, size, label: `${a.node}/fill/${i}` })
            done += size
          }
        })
      case 'partition': {
        this.partitions.set(a.id, a.sides)
        this.#fault('partition', undefined, a.sides.map((s) => s.join(',')).join(' | '))
        void Promise.all(this.nodes.filter((n) => n.alive).map((n) => this.#applyPartition(a.sides, n))).catch((err) => this.log(`sim: partition: ${(err as Error).message}`))
        return
      }
      case 'heal': {
        const sides = this.partitions.get(a.id)
        this.partitions.delete(a.id)
        if (sides == null) return
        this.#fault('heal', undefined, sides.map((s) => s.join(',')).join(' | '))
        const all = this.#peerIdsOf(sides.flat())
        void Promise.all(this.nodes.filter((n) => n.alive).map((n) => n.unblock(all).catch(() => {})))
        return
      }
      case 'promote':
        void this.#promote(a.count, a.spacingMs)
        return
      case 'lose-all': {
        // behind whatever every node's queue holds, and every node's queue behind it
        const all = Promise.all(this.nodes.map((n) => this.chains.get(n.name) ?? Promise.resolve())).then(() => this.#loseAll(a))
        const done = all.catch((err) => this.log(`sim: lose-all: ${(err as Error).message}`))
        for (const n of this.nodes) this.chains.set(n.name, done)
        return done
      }
    }
  }

  /**
   * The whole cluster lost: once every file written so far is in a sink
   * (bounded wait), every node is killed and its data dir deleted; after the
   * pause the `restoreOn` nodes restore from the sinks, then all start again
   * as new peers under their old names.
   */
  async #loseAll(a: Extract<Action, { type: 'lose-all' }>): Promise<void> {
    if (this.sinks != null) {
      const until = this.observer.now() + a.backupWaitMs
      let missing = await notYetInSinks(this.ledger.all(), this.sinks.open())
      while (missing.length > 0 && this.observer.now() < until) {
        await sleep(1000)
        missing = await notYetInSinks(this.ledger.all(), this.sinks.open())
      }
      if (missing.length > 0) this.log(`sim: lose-all: ${missing.length} files still not in a sink after ${a.backupWaitMs / 1000} s: ${missing.slice(0, 3).map((f) => f.path).join(', ')}`)
    }
    const live = this.nodes.filter((n) => n.alive)
    this.#fault('lose-all', undefined, `${live.length} nodes killed (${this.o.mode === 'inprocess' ? 'abrupt stop' : 'kill -9'}), every data dir deleted`)
    await Promise.all(live.map((n) => n.crash()))
    await Promise.all(this.nodes.map((n) => rm(n.dataDir, { recursive: true, force: true })))
    for (const n of this.nodes) this.fate.set(n.name, 'replaced')
    await sleep(a.restartAfterMs)
    const first = a.restoreOn.map((name) => this.byName.get(name)!)
    for (const n of first) {
      // a restore that fails outright is reported and the nodes start anyway: noDataLost then names what is missing
      const r = await restoreSimNode(n, this.settings.get(n.name) ?? {}).catch((err: unknown) => ({ restored: 0, present: 0, failed: [`the restore failed: ${(err as Error).message}`] }))
      this.#fault('restore', n.name, `${r.restored} restored, ${r.present} already here, ${r.failed.length} failed${r.failed.length > 0 ? `: ${r.failed.slice(0, 2).join('; ')}` : ''}`)
    }
    const started = async (n: SimNode): Promise<void> => {
      await this.#startNode(n)
      this.#fault('restart', n.name, `new peer ${n.peerId.slice(-8)}`)
    }
    // the restored nodes first (one after the other, each bootstraps from the last), then the rest together
    for (const n of first) await started(n)
    await Promise.all(this.nodes.filter((m) => !first.includes(m)).map(started))
  }

  /** Every peer ID these nodes had (identities change). */
  #peerIdsOf(names: string[]): string[] {
    const out: string[] = []
    for (const [id, name] of this.observer.names) if (names.includes(name)) out.push(id)
    return out
  }

  async #applyPartition(sides: string[][], n: SimNode): Promise<void> {
    const mine = sides.find((s) => s.includes(n.name))
    const others = sides.filter((s) => s !== mine).flat()
    await n.block(this.#peerIdsOf(others))
    // the other side learns this node's (maybe new) peer ID too
    if (mine != null) {
      const mineIds = this.#peerIdsOf([n.name])
      await Promise.all(this.nodes.filter((m) => m.alive && others.includes(m.name)).map((m) => m.block(mineIds).catch(() => {})))
    }
  }

  async #promote(count: number, spacingMs: number): Promise<void> {
    const models = this.ledger
      .all()
      .filter((f) => f.kind === 'model' && !f.promoted && this.byName.get(f.origin)!.alive)
      .sort((a, b) => b.createdAtMs - a.createdAtMs)
      .slice(0, count)
    if (models.length === 0) this.#fault('promote', undefined, 'no model file to promote')
    for (const f of models) {
      const r = await this.byName.get(f.origin)!.promote(f.path)
      f.promoted = r.status === 200
      this.#fault('promote', f.origin, `${f.path}: ${r.status === 200 ? 'promoted' : r.status === 404 ? '404 (no /promote yet, or not cataloged yet)' : `${r.status} ${r.message.slice(0, 80)}`}`)
      await sleep(spacingMs)
    }
  }

  #recordLoss(n: SimNode): void {
    const files = new Map<string, number>()
    for (const [sha, holders] of this.observer.holders) {
      const f = this.ledger.bySha.get(sha)
      // the files this loss puts under their minimum: the ones a repair must restore
      if (f != null && holders.includes(n.name) && holders.length - 1 < f.minCopies) files.set(sha, f.minCopies)
    }
    this.losses.push({ t: this.observer.now(), node: n.name, peerIds: this.#peerIdsOf([n.name]), files })
  }

  #returned(name: string): void {
    for (const l of this.losses) if (l.node === name && l.returnedAt == null) l.returnedAt = this.observer.now()
  }

  async #sample(scanDisks: boolean): Promise<void> {
    await this.observer.sample(this.nodes)
    const t = this.observer.now()
    for (const l of this.losses) {
      if (l.repairedAt != null || l.returnedAt != null) continue
      const done = [...l.files].every(([sha, min]) => (this.observer.holders.get(sha) ?? []).filter((h) => h !== l.node).length >= min)
      if (done) l.repairedAt = t
    }
    const c = this.observer.convergence(this.#components())
    if (c.ok) this.convergedSince ??= t
    else {
      this.convergedSince = undefined
      this.lastDisagreements = c.disagreements
    }
    if (scanDisks) await this.#scanDisks()
  }

  /** Groups of live nodes that can reach each other (partitions in force split them). */
  #components(): string[][] {
    const live = this.nodes.filter((n) => n.alive).map((n) => n.name)
    const groups = new Map<string, string[]>()
    for (const name of live) {
      const key = [...this.partitions.values()].map((sides) => sides.findIndex((s) => s.includes(name))).join('/')
      const g = groups.get(key) ?? []
      g.push(name)
      groups.set(key, g)
    }
    return [...groups.values()]
  }

  async #scanDisks(): Promise<Map<string, DiskFile[]>> {
    const disk = new Map<string, DiskFile[]>()
    for (const n of this.nodes) disk.set(n.name, await this.scanner.scan(n.dataDir))
    this.scans++
    const t = this.observer?.now() ?? 0
    for (const list of disk.values()) this.filesChecked += list.length
    for (const c of corruptVisible(this.ledger, disk)) {
      if (this.merges.isTarget(c.path)) continue
      const key = `${c.node}\0${c.path}\0${c.sha256}`
      if (!this.corrupt.has(key)) this.corrupt.set(key, { ...c, atMs: t })
    }
    return disk
  }

  #settled(): boolean {
    if (this.convergedSince == null) return false
    const live = new Set(this.nodes.filter((n) => n.alive).map((n) => n.name))
    const components = this.#components()
    return this.ledger.all().every((f) => {
      if (f.ackedAtMs == null && !live.has(f.origin)) return true
      const holders = (this.observer.holders.get(f.sha256) ?? []).filter((h) => live.has(h))
      return holders.length >= copiesRequired(f, holders, components).required
    })
  }

  async #settle(): Promise<void> {
    const limit = (this.o.settleS ?? this.plan.scenario.settle) * 1000
    const began = this.observer.now()
    this.log(`sim: faults over at ${(this.quietAtMs / 1000).toFixed(1)} s; settling (at most ${limit / 1000} s)`)
    let i = 0
    for (;;) {
      await this.#sample(i++ % 5 === 0)
      if (this.#settled() && (this.merges.rules.length === 0 || (await this.merges.complete(this.ledger, this.nodes, await this.#scanDisks())))) break
      if (this.observer.now() - began > limit) {
        this.log('sim: settle time is up')
        break
      }
      await sleep(this.plan.scenario.sampleEvery * 1000)
    }
    // a last look: everything the nodes said since
    await this.#sample(false)
    await this.probe?.stop()
  }

  async #finish(): Promise<SimOutcome> {
    const disk = await this.#scanDisks()
    const live = new Set(this.nodes.filter((n) => n.alive).map((n) => n.name))
    const views = new Map<string, { verifiedCopies: number; minCopies: number }[]>()
    for (const [name, s] of this.observer.latest) views.set(name, s.files.filter((f) => this.ledger.bySha.has(f.sha256)))
    const s = this.plan.scenario
    const skip = new Set<string>(s.invariants.skip)
    const needed = [...this.observer.everHeld].reduce((a, k) => {
      const [node, sha] = k.split('\0') as [string, string]
      const f = this.ledger.bySha.get(sha)
      return f != null && f.origin !== node ? a + f.size : a
    }, 0)
    const checks = {
      // a sink copy counts only as the harness itself verified it: size, stored checksum, and the bytes re-hashed
      noDataLost: noDataLost(this.ledger, disk, live, views, this.#components(), this.sinks != null ? await checkSinkCopies(this.ledger.all(), this.sinks.open(), { rehash: true }) : undefined),
      nothingCorruptVisible: nothingCorruptVisible(this.corrupt, this.scans, this.filesChecked),
      convergence: convergence(this.quietAtMs, this.convergedSince, s.invariants.convergeWithin * 1000, this.lastDisagreements),
      noStorm: noStorm(this.observer.totals(), needed, s.invariants.stormFactor),
      mergedExactlyOnce: await this.merges.check(this.ledger, this.nodes, disk),
    }
    const invariants: SimReport['invariants'] = {}
    const breaches: Breach[] = []
    for (const name of INVARIANTS) {
      if (skip.has(name)) {
        invariants[name] = { ok: true, detail: { skipped: 'listed in the scenario under invariants.skip' } }
        continue
      }
      invariants[name] = checks[name].result
      breaches.push(...checks[name].breaches)
    }
    const report = buildReport(this, invariants, needed)
    const reportJson = join(this.o.reportDir, 'report.json')
    const reportHtml = join(this.o.reportDir, 'report.html')
    await writeFile(reportJson, `${JSON.stringify(report, null, 1)}\n`)
    await writeFile(reportHtml, renderReportHtml(report))
    const ok = breaches.length === 0
    this.log(`sim: ${ok ? 'PASS' : 'FAIL'}; report: ${reportHtml}`)
    return { report, ok, breaches, reportJson, reportHtml }
  }

  async #teardown(): Promise<void> {
    await this.probe?.stop()
    await Promise.all(this.nodes.map((n) => n.stop().catch(() => {})))
    await Promise.all(this.nodes.map((n) => n.closeProxy().catch(() => {})))
    await this.net?.destroy()
    await this.sinks?.stop()
    if (this.o.keep !== true) await rm(this.workDir, { recursive: true, force: true }).catch(() => {})
  }
}

export type { Run }

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
