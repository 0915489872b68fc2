import picomatch from 'picomatch'
import type { MeshsyncNode } from '../node.js'
import type { PlannedFile } from '../replication/planner.js'

/** One row of the dashboard's file table. */
export interface FileRow {
  sha256: string
  path: string
  size: number
  kind: string
  policy: string
  minCopies: number
  maxCopies: number
  copies: number
  holders: string[]
  /** The holders whose copies count (live, or down within the grace). */
  copyHolders: string[]
  under: boolean
  promoted: boolean
}

export interface FileQuery {
  kind?: string
  policy?: string
  glob?: string
  under?: boolean
  holder?: string
  offset: number
  limit: number
}

/** Samples of the node's transfer byte counters, for the bandwidth chart. */
interface Sample {
  tMs: number
  inBytes: number
  outBytes: number
}

const HISTORY_MS = 10 * 60_000
const SAMPLE_EVERY_MS = 2000

/**
 * The dashboard's read model: what the cluster looks like from this node
 * (the planner's last tick, health gossip, the transfer queue), shaped for
 * the page. File rows are built once per planner tick and sorted by path, so
 * filtering and paging 100,000 files costs one pass.
 */
export class DashboardModel {
  readonly #node: MeshsyncNode
  #rowsFor: ReadonlyMap<string, PlannedFile> | undefined
  #rows: FileRow[] = []
  readonly #samples: Sample[] = []

  constructor(node: MeshsyncNode) {
    this.#node = node
  }

  nameOf(peer: string): string {
    const n = this.#node
    return peer === n.peerId ? n.config.node.name : (n.view.get(peer)?.name ?? peer.slice(0, 16))
  }

  rows(): FileRow[] {
    const plan = this.#node.planner.plan()
    if (plan === this.#rowsFor) return this.#rows
    const rows: FileRow[] = []
    const bySha = new Map<string, FileRow>()
    for (const p of plan.values()) {
      const f = p.known.facts
      rows.push({
        sha256: f.sha256,
        path: f.path,
        size: f.size,
        kind: p.known.entry.kind,
        policy: p.policy.name,
        minCopies: p.policy.minCopies,
        maxCopies: p.policy.maxCopies,
        copies: p.placement.copies.length,
        holders: f.holders.map((h) => this.nameOf(h)),
        copyHolders: p.placement.copies.map((h) => this.nameOf(h)),
        under: p.placement.copies.length < p.policy.minCopies,
        promoted: f.promoted,
      })
      bySha.set(f.sha256, rows[rows.length - 1]!)
    }
    // the same files in the same places as last tick (the common case): keep last tick's order, no sort
    const prev = this.#rows
    const same = prev.length === rows.length && prev.every((r) => bySha.get(r.sha256)?.path === r.path)
    if (same) for (let i = 0; i < prev.length; i++) rows[i] = bySha.get(prev[i]!.sha256)!
    else rows.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    this.#rows = rows
    this.#rowsFor = plan
    return rows
  }

  files(q: FileQuery): { total: number; offset: number; items: FileRow[] } {
    const glob = q.glob != null && q.glob !== '' ? picomatch(q.glob, { dot: true }) : undefined
    const items: FileRow[] = []
    let total = 0
    for (const r of this.rows()) {
      if (q.kind && r.kind !== q.kind) continue
      if (q.policy && r.policy !== q.policy) continue
      if (q.under === true && !r.under) continue
      if (q.holder && !r.holders.includes(q.holder)) continue
      if (glob != null && !glob(r.path)) continue
      if (total >= q.offset && items.length < q.limit) items.push(r)
      total++
    }
    return { total, offset: q.offset, items }
  }

  /** Verdict, nodes, data per policy with its copies histogram, transfers and bandwidth. */
  async overview(): Promise<Record<string, unknown>> {
    const node = this.#node
    const cfg = node.config
    const now = node.clock.now()
    await this.#sample(now)
    const rows = this.rows()
    const policies = new Map<string, { name: string; minCopies: number; maxCopies: number; files: number; bytes: number; histogram: number[] }>()
    const sole = new Map<string, number>()
    let under = 0
    let atRisk = 0
    for (const r of rows) {
      let p = policies.get(r.policy)
      if (p == null) {
        p = { name: r.policy, minCopies: r.minCopies, maxCopies: r.maxCopies, files: 0, bytes: 0, histogram: [] }
        policies.set(r.policy, p)
      }
      p.files++
      p.bytes += r.size
      while (p.histogram.length <= r.copies) p.histogram.push(0)
      p.histogram[r.copies]!++
      if (r.under) {
        under++
        atRisk += r.size
        if (r.copies === 1) for (const h of r.copyHolders) sole.set(h, (sole.get(h) ?? 0) + 1)
      }
    }
    const self = node.readModels.status()
    const nodes = [
      {
        peerId: node.peerId,
        name: cfg.node.name,
        role: cfg.node.role,
        provider: cfg.node.provider,
        state: node.evacuating ? 'evacuating' : 'up',
        stateSinceMs: node.startedMs,
        self: true,
        disk: self.disk,
        accepting: !node.evacuating && node.diskLevel !== 'full',
        files: node.manifest.count,
        version: String(self.version),
        transfersActive: node.transfers.list().filter((t) => t.state === 'active').length,
        rate: this.#rate(),
      },
      ...node.view
        .peers()
        .filter((p) => p.peerId !== node.peerId)
        .map((p) => ({
          peerId: p.peerId,
          name: p.name ?? p.peerId.slice(0, 16),
          role: p.health?.role ?? '?',
          provider: p.health?.provider ?? '?',
          state: p.health?.evacuating === true && p.state === 'up' ? 'evacuating' : p.state,
          stateSinceMs: p.stateSinceMs,
          self: false,
          disk: p.health?.disk,
          accepting: p.health?.accepting ?? false,
          files: p.entries.size,
          version: p.health?.version ?? '?',
          transfersActive: p.health?.transfersActive ?? 0,
          rate: undefined,
        }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    ]
    const transfers = node.transfers.list()
    return {
      node: { name: cfg.node.name, peerId: node.peerId, version: self.version },
      nowMs: now,
      verdict: {
        ok: under === 0,
        files: rows.length,
        filesUnderMin: under,
        bytesAtRisk: atRisk,
        syncLagMs: node.planner.stats.syncLagMs,
        soleHolders: [...sole].map(([name, files]) => ({ name, files })).sort((a, b) => b.files - a.files),
      },
      thresholds: { pushAt: cfg.disk.pushAt, urgentAt: cfg.disk.urgentAt, cleanupAt: cfg.disk.cleanupAt },
      nodes,
      policies: [...policies.values()].sort((a, b) => a.name.localeCompare(b.name)),
      transfers: transfers.slice(0, 200),
      transfersTotal: transfers.length,
      bandwidth: this.#series(),
    }
  }

  async #sample(now: number): Promise<void> {
    const last = this.#samples.at(-1)
    if (last != null && now - last.tMs < SAMPLE_EVERY_MS) return
    const m = await this.#node.metrics.transferBytes.get()
    let inBytes = 0
    let outBytes = 0
    for (const v of m.values) {
      if (v.labels.direction === 'in') inBytes += v.value
      else outBytes += v.value
    }
    this.#samples.push({ tMs: now, inBytes, outBytes })
    while (this.#samples.length > 2 && this.#samples[0]!.tMs < now - HISTORY_MS) this.#samples.shift()
  }

  #series(): { tMs: number; inRate: number; outRate: number }[] {
    const out: { tMs: number; inRate: number; outRate: number }[] = []
    for (let i = 1; i < this.#samples.length; i++) {
      const a = this.#samples[i - 1]!
      const b = this.#samples[i]!
      const dt = Math.max(1, b.tMs - a.tMs) / 1000
      out.push({ tMs: b.tMs, inRate: (b.inBytes - a.inBytes) / dt, outRate: (b.outBytes - a.outBytes) / dt })
    }
    return out
  }

  #rate(): { in: number; out: number } | undefined {
    const s = this.#series().at(-1)
    return s != null ? { in: s.inRate, out: s.outRate } : undefined
  }

  /** One file: holders with their state, placement, any transfer here, and its events. */
  file(sha256: string): Record<string, unknown> | undefined {
    const node = this.#node
    const p = node.planner.planned(sha256)
    if (p == null) return undefined
    const f = p.known.facts
    const holders = f.holders.map((h) => {
      const peer = node.view.get(h)
      return { peerId: h, name: this.nameOf(h), state: h === node.peerId ? 'up' : (peer?.state ?? '?'), counts: p.placement.copies.includes(h) }
    })
    const events = node.db
      .prepare('SELECT id, time_ms AS timeMs, type, peer, path, data FROM events WHERE sha256 = ? ORDER BY id DESC LIMIT 50')
      .all(sha256) as { id: number; timeMs: number; type: string; peer: string | null; path: string | null; data: string | null }[]
    return {
      sha256,
      path: f.path,
      size: f.size,
      kind: p.known.entry.kind,
      origin: this.nameOf(f.origin),
      promoted: f.promoted,
      infoHash: p.known.entry.infoHash,
      policy: { name: p.policy.name, minCopies: p.policy.minCopies, maxCopies: p.policy.maxCopies },
      verifiedCopies: p.placement.copies.length,
      holders,
      desired: p.placement.desired.map((h) => this.nameOf(h)),
      transfer: node.transfers.list().find((t) => t.sha256 === sha256),
      events: events.map((e) => ({ ...e, peer: e.peer ?? undefined, data: e.data != null ? JSON.parse(e.data) : undefined })),
    }
  }
}
