import { dataPath, type DataKind } from '../data/generate.js'
import { Prng } from '../harness/prng.js'
import type { FaultSpec, Scenario } from './schema.js'

/** One node of the planned cluster. */
export interface PlannedNode {
  index: number
  name: string
  group: string
  role: string
  provider: string
  ephemeral: boolean
  tags: string[]
  /** Node config (dotted keys) from the scenario, its group and start-time faults. */
  settings: Record<string, unknown>
  /** Added latency on connections to this node, ms each way. */
  latencyMs?: number
  /** Link caps from the start (netns: tc on its veth), bytes per second. */
  link?: { upload: number; download?: number }
}

/** A file a node writes into its data dir. */
export interface PlannedWrite {
  /** ms from the start. */
  t: number
  node: string
  kind: DataKind
  /** Relative to the data dir. */
  path: string
  size: number
  /** Seeds the bytes (with the run seed). */
  label: string
}

export type Action =
  | { t: number; type: 'kill'; node: string; cause: string }
  | { t: number; type: 'restart'; node: string }
  | { t: number; type: 'evacuate'; node: string; deadlineMs: number }
  | { t: number; type: 'partition'; id: number; sides: string[][] }
  | { t: number; type: 'heal'; id: number }
  | { t: number; type: 'reconfigure'; node: string; settings: Record<string, unknown>; why: 'corrupt' | 'cap-link'; link?: { upload: number; download?: number } }
  | { t: number; type: 'fill'; node: string; bytes: number; fileSize: number }
  | { t: number; type: 'promote'; count: number; spacingMs: number }
  | { t: number; type: 'new-identity'; node: string; downForMs: number }
  | { t: number; type: 'lose-all'; restoreOn: string[]; restartAfterMs: number; backupWaitMs: number }

export interface Plan {
  scenario: Scenario
  seed: number
  nodes: PlannedNode[]
  writes: PlannedWrite[]
  /** Sorted by time. */
  actions: Action[]
  durationMs: number
  /** When the last fault action and the last write are done (ms): the settle phase starts here. */
  quietAtMs: number
}

export class PlanError extends Error {}

/**
 * Compiles a scenario with a seed and a node count into the exact schedule
 * of the run: which node is which, which files are written when, and every
 * fault. Pure and deterministic: the same inputs give the same plan.
 */
export function plan(scenario: Scenario, opts: { seed?: number; nodes?: number; durationS?: number } = {}): Plan {
  const seed = opts.seed ?? scenario.seed
  const total = opts.nodes ?? scenario.nodes
  const durationMs = Math.round((opts.durationS ?? scenario.duration) * 1000)
  const rng = new Prng(seed)
  const nodes = layoutNodes(scenario, total)
  const byName = new Map(nodes.map((n) => [n.name, n]))
  const writes = planWrites(scenario, nodes, durationMs, rng.fork('data'))
  const actions: Action[] = []
  const faultRng = rng.fork('faults')
  // node -> intervals [from, to) when it is down (to = Infinity: gone for good)
  const downs = new Map<string, [number, number][]>()
  const busy = (name: string, from: number, to: number) => (downs.get(name) ?? []).some(([a, b]) => a < to && from < b)
  const markDown = (name: string, from: number, to: number) => downs.set(name, [...(downs.get(name) ?? []), [from, to]])
  let partitionId = 0

  const select = (sel: string, r: Prng, t: number): string => {
    const alive = (n: PlannedNode) => !busy(n.name, t, t + 1)
    if (byName.has(sel)) return sel
    if (sel === 'random') {
      const pool = nodes.filter((n) => n.index !== 0 && alive(n))
      if (pool.length === 0) throw new PlanError(`no live node left for selector 'random' at ${t / 1000} s`)
      return r.pick(pool).name
    }
    const m = /^group:(.+)$/.exec(sel)
    if (m != null) {
      const pool = nodes.filter((n) => n.group === m[1] && alive(n))
      if (!nodes.some((n) => n.group === m[1])) throw new PlanError(`selector '${sel}': no group '${m[1]}' (groups: ${[...new Set(nodes.map((n) => n.group))].join(', ')})`)
      if (pool.length === 0) throw new PlanError(`selector '${sel}': no live node of that group at ${t / 1000} s`)
      return r.pick(pool).name
    }
    throw new PlanError(`unknown node selector '${sel}' (a node name, group:NAME or random; nodes: ${nodes.map((n) => n.name).join(', ')})`)
  }
  const ms = (s: number) => Math.round(s * 1000)
  const draw = (r: Prng, [lo, hi]: [number, number]) => (lo === hi ? lo : r.range(lo, hi))

  // explicit faults first, so churn (drawn afterwards) works around them
  const order = scenario.faults.map((f, i) => [f, i] as const).sort((a, b) => Number(a[0].type === 'churn') - Number(b[0].type === 'churn') || a[1] - b[1])
  for (const [f, i] of order) planFault(f, i)

  function planFault(f: FaultSpec, i: number): void {
    const r = faultRng.fork(String(i))
    switch (f.type) {
      case 'kill':
      case 'evacuate': {
        const t = ms(f.at)
        const node = select(f.node, r, t)
        actions.push(f.type === 'kill' ? { t, type: 'kill', node, cause: 'kill' } : { t, type: 'evacuate', node, deadlineMs: ms(f.deadline) })
        const back = f.restartAfter != null ? t + (f.type === 'evacuate' ? ms(f.deadline) : 0) + ms(draw(r, f.restartAfter)) : Number.POSITIVE_INFINITY
        if (Number.isFinite(back)) actions.push({ t: back, type: 'restart', node })
        markDown(node, t, back)
        return
      }
      case 'churn': {
        const members = nodes.filter((n) => n.group === f.group)
        if (members.length === 0) throw new PlanError(`churn: no group '${f.group}'`)
        for (let t = ms(f.from); t < ms(f.until); t += Math.max(100, ms(draw(r, f.every)))) {
          const gone = r.chance(f.neverReturn)
          const evac = r.chance(f.evacuate)
          const back = gone ? Number.POSITIVE_INFINITY : t + (evac ? ms(f.deadline) : 0) + ms(draw(r, f.down))
          // a node that is up now and has no other fault until it is back; and keep one member of the group up
          const free = members.filter((n) => !busy(n.name, t, back))
          const upNow = members.filter((n) => !busy(n.name, t, t + 1))
          if (free.length === 0 || upNow.length <= 1) continue
          const node = r.pick(free).name
          if (evac) actions.push({ t, type: 'evacuate', node, deadlineMs: ms(f.deadline) })
          else actions.push({ t, type: 'kill', node, cause: 'churn' })
          if (Number.isFinite(back)) actions.push({ t: back, type: 'restart', node })
          markDown(node, t, back)
        }
        return
      }
      case 'partition': {
        const t = ms(f.at)
        const id = ++partitionId
        actions.push({ t, type: 'partition', id, sides: sidesOf(f.split, nodes, (s) => select(s, r, t), r) })
        if (f.heal != null) actions.push({ t: t + ms(f.heal), type: 'heal', id })
        return
      }
      case 'corrupt': {
        const t = ms(f.at)
        const node = select(f.node, r, t)
        const settings = { 'debug.corruptServeRate': f.rate }
        if (t === 0) Object.assign(byName.get(node)!.settings, settings)
        else actions.push({ t, type: 'reconfigure', node, settings, why: 'corrupt' })
        return
      }
      case 'fill-disk': {
        const t = ms(f.at)
        const node = select(f.node, r, t)
        byName.get(node)!.settings['disk.quota'] = f.quota
        actions.push({ t, type: 'fill', node, bytes: f.fill, fileSize: f.fileSize })
        return
      }
      case 'cap-link': {
        const t = ms(f.at)
        const node = select(f.node, r, t)
        const settings: Record<string, unknown> = { 'bandwidth.upload': f.upload, ...(f.download != null ? { 'bandwidth.download': f.download } : {}) }
        const link = { upload: f.upload, download: f.download }
        if (t === 0) {
          const n = byName.get(node)!
          Object.assign(n.settings, settings)
          n.link = link
        } else actions.push({ t, type: 'reconfigure', node, settings, why: 'cap-link', link })
        return
      }
      case 'promote':
        actions.push({ t: ms(f.at), type: 'promote', count: f.count, spacingMs: ms(f.spacing) })
        return
      case 'new-identity': {
        const t = ms(f.at)
        const node = select(f.node, r, t)
        actions.push({ t, type: 'new-identity', node, downForMs: ms(f.downFor) })
        markDown(node, t, t + ms(f.downFor) + 1000)
        return
      }
      case 'lose-all': {
        const t = ms(f.at)
        const restoreOn = [...new Set(f.restoreOn.map((sel) => select(sel, r, t)))]
        actions.push({ t, type: 'lose-all', restoreOn, restartAfterMs: ms(f.restartAfter), backupWaitMs: ms(f.backupWait) })
        for (const n of nodes) markDown(n.name, t, t + ms(f.restartAfter) + 1000)
        return
      }
    }
  }
  for (const [policy, b] of Object.entries(scenario.policies)) {
    for (const sink of b.backup) if (scenario.sinks[sink] == null) throw new PlanError(`policies.${policy}.backup names sink '${sink}', which the scenario's sinks do not declare (${Object.keys(scenario.sinks).join(', ') || 'none'})`)
  }
  actions.sort((a, b) => a.t - b.t)
  const lastAction = actions.reduce((m, a) => Math.max(m, a.t + (a.type === 'evacuate' ? a.deadlineMs : a.type === 'new-identity' ? a.downForMs : a.type === 'lose-all' ? a.restartAfterMs : 0)), 0)
  const lastWrite = writes.reduce((m, w) => Math.max(m, w.t), 0)
  return { scenario, seed, nodes, writes, actions, durationMs, quietAtMs: Math.max(lastAction, lastWrite) }
}

function layoutNodes(s: Scenario, total: number): PlannedNode[] {
  const counted = s.groups.reduce((a, g) => a + (g.count ?? 0), 0)
  if (counted > total) throw new PlanError(`the groups' counts add up to ${counted}, more than the ${total} nodes`)
  const shared = s.groups.filter((g) => g.count == null)
  const weight = shared.reduce((a, g) => a + (g.share ?? 1), 0)
  const left = total - counted
  // largest remainder, in group order on ties
  const exact = shared.map((g) => (left * (g.share ?? 1)) / (weight || 1))
  const sizes = exact.map(Math.floor)
  let rest = left - sizes.reduce((a, b) => a + b, 0)
  const order = exact.map((e, i) => [e - Math.floor(e), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1])
  for (const [, i] of order) {
    if (rest <= 0) break
    sizes[i]!++
    rest--
  }
  if (shared.length === 0 && left > 0) throw new PlanError(`the groups name ${counted} nodes but ${total} were asked for; give a group a share`)
  const out: PlannedNode[] = []
  for (const g of s.groups) {
    const k = g.count ?? sizes[shared.indexOf(g)]!
    for (let i = 0; i < k; i++) {
      out.push({
        index: out.length,
        name: `${g.name}-${i}`,
        group: g.name,
        role: g.role,
        provider: g.provider,
        ephemeral: g.ephemeral,
        tags: g.tags,
        settings: { ...s.config, ...g.config },
        latencyMs: g.latencyMs,
      })
    }
  }
  return out
}

function planWrites(s: Scenario, nodes: PlannedNode[], durationMs: number, rng: Prng): PlannedWrite[] {
  const out: PlannedWrite[] = []
  const counters = new Map<string, number>()
  s.data.forEach((d, i) => {
    const until = Math.round((d.until ?? (s.duration * 3) / 4) * 1000)
    const producers = d.on === 'all' ? nodes : nodes.filter((n) => n.group === d.on || n.name === d.on)
    if (producers.length === 0) throw new PlanError(`data[${i}]: no node or group '${d.on}'`)
    for (const n of producers) {
      const r = rng.fork(`${i}/${n.name}`)
      const [lo, hi] = d.every
      let t = Math.round(d.from * 1000 + r.range(0, lo * 1000))
      for (let k = 0; t < Math.min(until, durationMs) && (d.max == null || k < d.max); k++) {
        const key = `${d.kind}/${n.name}`
        const index = counters.get(key) ?? 0
        counters.set(key, index + 1)
        const size = Math.round(d.size[0] === d.size[1] ? d.size[0] : r.range(d.size[0], d.size[1]))
        out.push({ t, node: n.name, kind: d.kind, path: dataPath(d.kind, n.name, index), size, label: `${n.name}/${d.kind}/${index}` })
        t += Math.round(1000 * (lo === hi ? lo : r.range(lo, hi)))
      }
    }
  })
  return out.sort((a, b) => a.t - b.t || a.node.localeCompare(b.node))
}

function sidesOf(split: string | string[][], nodes: PlannedNode[], select: (s: string) => string, r: Prng): string[][] {
  const names = nodes.map((n) => n.name)
  if (split === 'halves') {
    const shuffled = r.shuffle(names)
    const h = Math.ceil(shuffled.length / 2)
    return [shuffled.slice(0, h).sort(), shuffled.slice(h).sort()]
  }
  if (typeof split === 'string') {
    const m = /^isolate:(.+)$/.exec(split)
    if (m == null) throw new PlanError(`partition split '${split}': expected halves, isolate:SELECTOR or lists of nodes`)
    const alone = select(m[1]!)
    return [[alone], names.filter((n) => n !== alone)]
  }
  const sides = split.map((side) => side.flatMap((s) => (s.startsWith('group:') ? nodes.filter((n) => n.group === s.slice(6)).map((n) => n.name) : [select(s)])))
  const listed = new Set(sides.flat())
  const rest = names.filter((n) => !listed.has(n))
  return rest.length > 0 ? [...sides, rest] : sides
}
