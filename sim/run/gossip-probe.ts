import type { ProcNode, SimNode, StatusView, PeerView } from '../harness/sim-node.js'

/**
 * Gossip latency where the harness cannot hook into the nodes (processes and
 * netns modes): polls every live node's /status and /peers every
 * `everyMs` and times each manifest change from when its node shows the new
 * seq to when every other live node's copy of that node's manifest has
 * reached it. Resolution: the polling period.
 */
export class GossipProbe {
  readonly everyMs: number
  /** subject peer ID -> seqs seen on the subject itself, with when. */
  readonly #changes = new Map<string, { seq: number; t: number; observers: Set<string>; arrived: Map<string, number> }[]>()
  #running = false
  #loop: Promise<void> | undefined

  constructor(everyMs: number) {
    this.everyMs = everyMs
  }

  start(nodes: SimNode[], now: () => number): void {
    this.#running = true
    this.#loop = (async () => {
      while (this.#running) {
        await this.#tick(nodes, now).catch(() => {})
        await new Promise((r) => setTimeout(r, this.everyMs))
      }
    })()
  }

  async stop(): Promise<void> {
    this.#running = false
    await this.#loop
  }

  async #tick(nodes: SimNode[], now: () => number): Promise<void> {
    const live = nodes.filter((n) => n.alive) as ProcNode[]
    const got = await Promise.all(
      live.map(async (n) => {
        try {
          const p = n.proc!
          const [status, peers] = await Promise.all([p.get<StatusView>('/status'), p.get<PeerView[]>('/peers')])
          return { n, status, peers }
        } catch {
          return undefined
        }
      }),
    )
    const t = now()
    const ok = got.filter((g) => g != null)
    for (const g of ok) {
      const list = this.#changes.get(g.status.peerId) ?? []
      const last = list[list.length - 1]
      if (last == null || g.status.manifest.seq > last.seq) {
        // the nodes that should hear of it: the others live now
        list.push({ seq: g.status.manifest.seq, t, observers: new Set(ok.filter((o) => o !== g).map((o) => o.n.name)), arrived: new Map() })
        this.#changes.set(g.status.peerId, list)
      }
    }
    for (const g of ok) {
      for (const p of g.peers) {
        for (const c of this.#changes.get(p.peerId) ?? []) {
          if (p.manifestSeq >= c.seq && c.observers.has(g.n.name) && !c.arrived.has(g.n.name)) c.arrived.set(g.n.name, t)
        }
      }
    }
  }

  /** ms from a change on its node to the last other node having it, for every change every node heard of (the first seq of each node excluded). */
  latencies(): number[] {
    const out: number[] = []
    for (const list of this.#changes.values()) {
      for (const c of list.slice(1)) {
        if (c.observers.size === 0 || c.arrived.size < c.observers.size) continue
        out.push(Math.max(...c.arrived.values()) - c.t)
      }
    }
    return out
  }
}
