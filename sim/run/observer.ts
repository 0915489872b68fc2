import type { MeshsyncEvent } from '../../src/state/event-log.js'
import type { CopiesSample, NodeSample, SimEvent } from '../report/types.js'
import type { SimNode, Snapshot } from '../harness/sim-node.js'
import type { Ledger } from './ledger.js'

/** Events kept for the report at most (the page aggregates them). */
const MAX_EVENTS = 50_000

export interface Convergence {
  ok: boolean
  /** Pairs (observer, subject) that disagree, with why. */
  disagreements: string[]
}

/**
 * Samples every live node through its public surface and keeps what the
 * report and the invariants need: copies per file over time (live nodes
 * holding it in their own catalog), bytes moved and disk per node, when each
 * node first knew of each file (gossip latency), events, and which
 * (node, file) pairs ever existed (the bytes that had to move).
 */
export class Observer {
  readonly t0: number
  readonly ledger: Ledger
  readonly copies: CopiesSample[] = []
  readonly bytesMoved: NodeSample[] = []
  readonly disk: NodeSample[] = []
  readonly events: SimEvent[] = []
  eventsDropped = 0
  /** Latest snapshot of each live node. */
  readonly latest = new Map<string, Snapshot>()
  /** Live holders per sha at the last sample (catalog truth of live nodes). */
  holders = new Map<string, string[]>()
  /** node -> sha -> first time (ms since start) the node listed the file in /files. */
  readonly firstKnown = new Map<string, Map<string, number>>()
  /** `${node}\0${sha}` for every file a node ever held. */
  readonly everHeld = new Set<string>()
  /** Bytes of finished incarnations per node, plus the current one's last figures. */
  readonly #bytesBase = new Map<string, { in: number; out: number; lastIn: number; lastOut: number; incarnation: number }>()
  readonly transferMs: number[] = []
  /** peer ID -> node name, across incarnations and identities. */
  readonly names = new Map<string, string>()
  /** When each node's current incarnation started (ms since start). */
  readonly startedAt = new Map<string, number>()

  constructor(t0: number, ledger: Ledger) {
    this.t0 = t0
    this.ledger = ledger
  }

  now(): number {
    return Date.now() - this.t0
  }

  noteStart(node: SimNode): void {
    this.names.set(node.peerId, node.name)
    this.startedAt.set(node.name, this.now())
  }

  /** One sample of every live node. */
  async sample(nodes: SimNode[]): Promise<void> {
    const t = this.now()
    const live = nodes.filter((n) => n.alive)
    const snaps = await Promise.all(live.map(async (n) => [n, await n.snapshot().catch(() => undefined)] as const))
    const holders = new Map<string, string[]>()
    const moved: Record<string, number> = {}
    const disk: Record<string, number> = {}
    this.latest.clear()
    for (const [n, s] of snaps) {
      if (s == null) continue
      this.latest.set(n.name, s)
      let known = this.firstKnown.get(n.name)
      if (known == null) {
        known = new Map()
        this.firstKnown.set(n.name, known)
      }
      for (const f of s.files) {
        if (!known.has(f.sha256)) known.set(f.sha256, t)
        if (!f.local) continue
        const list = holders.get(f.sha256) ?? []
        list.push(n.name)
        holders.set(f.sha256, list)
        this.everHeld.add(`${n.name}\0${f.sha256}`)
        const l = this.ledger.bySha.get(f.sha256)
        if (l != null && l.origin === n.name && l.announcedAtMs == null) l.announcedAtMs = t
      }
      disk[n.name] = s.status.disk.usedFraction
      let b = this.#bytesBase.get(n.name)
      if (b == null) {
        b = { in: 0, out: 0, lastIn: 0, lastOut: 0, incarnation: n.incarnation }
        this.#bytesBase.set(n.name, b)
      }
      if (b.incarnation !== n.incarnation) {
        // a restart: what the last incarnation moved is kept
        b.in += b.lastIn
        b.out += b.lastOut
        b.lastIn = 0
        b.lastOut = 0
        b.incarnation = n.incarnation
      }
      b.lastIn = s.bytesIn
      b.lastOut = s.bytesOut
      moved[n.name] = b.in + b.lastIn
    }
    this.holders = holders
    const files: Record<string, number> = {}
    for (const f of this.ledger.all()) {
      const c = holders.get(f.sha256)?.length ?? 0
      files[f.sha256.slice(0, 12)] = c
      if (f.ackedAtMs == null && c >= f.minCopies) f.ackedAtMs = t
      if (f.ackedAtMs != null) f.lowestAfterAck = Math.min(f.lowestAfterAck ?? c, c)
    }
    this.copies.push({ t, files })
    this.bytesMoved.push({ t, nodes: moved })
    this.disk.push({ t, nodes: disk })
    await this.#drain(live)
  }

  async #drain(live: SimNode[]): Promise<void> {
    const batches = await Promise.all(live.map(async (n) => [n.name, await n.drainEvents().catch(() => [] as MeshsyncEvent[])] as const))
    for (const [name, list] of batches) for (const e of list) this.#event(name, e)
  }

  #event(node: string, e: MeshsyncEvent): void {
    if (e.type === 'sync_completed' && typeof e.data?.durationMs === 'number') this.transferMs.push(e.data.durationMs)
    if (this.events.length >= MAX_EVENTS) {
      this.eventsDropped++
      return
    }
    const d = e.data ?? {}
    const detail = Object.entries(d)
      .filter(([k]) => k !== 'sha256' && k !== 'path')
      .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join(' ')
      .slice(0, 300)
    this.events.push({
      t: Math.max(0, e.timeMs - this.t0),
      node,
      type: e.type,
      path: e.path ?? (typeof d.path === 'string' ? d.path : undefined),
      peer: e.peer != null ? (this.names.get(e.peer) ?? e.peer) : undefined,
      detail: detail === '' ? undefined : detail,
    })
  }

  /** Total bytes received and sent by every node over the run. */
  totals(): { bytesIn: number; bytesOut: number; perNode: Record<string, number> } {
    let bytesIn = 0
    let bytesOut = 0
    const perNode: Record<string, number> = {}
    for (const [name, b] of this.#bytesBase) {
      bytesIn += b.in + b.lastIn
      bytesOut += b.out + b.lastOut
      perNode[name] = b.in + b.lastIn
    }
    return { bytesIn, bytesOut, perNode }
  }

  /**
   * Whether the live nodes agree: within each group of nodes that can reach
   * each other, every node sees every other one up, at the manifest seq it
   * has itself, with the same number of files.
   */
  convergence(components: string[][]): Convergence {
    const disagreements: string[] = []
    for (const comp of components) {
      const members = comp.filter((n) => this.latest.has(n))
      for (const a of members) {
        const sa = this.latest.get(a)!
        for (const b of members) {
          if (a === b) continue
          const sb = this.latest.get(b)!
          const p = sa.peers.find((x) => x.peerId === sb.status.peerId)
          if (p == null) disagreements.push(`${a} does not know ${b}`)
          else if (p.state !== 'up') disagreements.push(`${a} sees ${b} ${p.state}`)
          else if (p.manifestSeq !== sb.status.manifest.seq || p.files !== sb.status.manifest.files) {
            disagreements.push(`${a} has ${b}'s manifest at seq ${p.manifestSeq} (${p.files} files), ${b} is at ${sb.status.manifest.seq} (${sb.status.manifest.files} files)`)
          }
        }
      }
    }
    return { ok: disagreements.length === 0, disagreements }
  }

  /** Gossip latency per file: from the origin listing it to the last node (running since before) listing it, ms. */
  gossipLatencies(precise?: Map<string, Map<string, number>>): number[] {
    const out: number[] = []
    const known = precise ?? this.firstKnown
    for (const f of this.ledger.all()) {
      const origin = known.get(f.origin)?.get(f.sha256) ?? f.announcedAtMs
      if (origin == null) continue
      let last = -1
      let missing = false
      for (const [node, m] of known) {
        if (node === f.origin) continue
        const started = this.startedAt.get(node) ?? 0
        if (started > origin) continue
        const at = m.get(f.sha256)
        if (at == null) {
          missing = true
          continue
        }
        last = Math.max(last, at)
      }
      if (last >= 0 && !missing) out.push(Math.max(0, last - origin))
    }
    return out
  }
}
