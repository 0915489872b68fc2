import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type Attestation, DeletionGuard, type DeletionRules } from '../../src/replication/deletion-guard.js'
import { ManualClock } from '../../src/util/clock.js'

/**
 * A model of a cluster cleaning up its disks at 75%, driven through the real
 * DeletionGuard (one per node, one shared ManualClock). Random interleavings
 * of writes, replications, kills, restarts, identity changes, time, and
 * multi-step cleanups of several nodes at once (begin / ask / receive /
 * commit / abort) must never delete a copy that leaves the file with fewer
 * than `required` copies on live nodes.
 *
 * What the model assumes of the node around the guard (the node must meet
 * these for the rule to be safe; the last tests show each one is needed):
 * - attestations are collected per cleanup (after begin), never reused;
 * - an attestation is stamped with the requester's clock on arrival, and one
 *   that arrives more than `timeoutMs` after it was asked for is dropped;
 * - maxAgeMs + timeoutMs < leaseMs, strictly;
 * - a node that restarts under the same identity still honours the leases it
 *   granted before it went down (they are durable); cleanups in flight die
 *   with the process.
 */

interface Rules extends DeletionRules {
  /** The requester drops an attestation that arrives later than this after it asked. */
  timeoutMs: number
}

type GuardFactory = (id: string, rules: DeletionRules, clock: ManualClock) => DeletionGuard

interface Session {
  atts: Attestation[]
  /** Asked and granted, the answer still on its way. */
  pending: { peer: string; askedAt: number }[]
}

interface Slot {
  /** The machine's current identity (changes on rejoin). */
  id: string
  gen: number
  alive: boolean
  /** Verified copies on its disk. */
  files: Set<string>
  guard: DeletionGuard
  /** Open cleanups, by file. */
  sessions: Map<string, Session>
}

type Advance = 'tick' | 'maxAge' | 'leaseMinusMaxAge' | 'lease' | 'timeout' | 'long' | 'random'

/**
 * Indices pick among the nodes (or open cleanups) for which the action means
 * something, so that nearly every step does something.
 */
type Action =
  | { t: 'write'; n: number; f: number }
  | { t: 'replicate'; from: number; to: number; f: number }
  | { t: 'kill'; n: number }
  | { t: 'restart'; n: number }
  /** A crash and an immediate restart. */
  | { t: 'bounce'; n: number }
  | { t: 'rejoin'; n: number }
  | { t: 'advance'; by: Advance; frac: number }
  | { t: 'begin'; n: number; f: number }
  /** toHolder: ask among the other live nodes that hold the file (else among all other live nodes). */
  | { t: 'ask'; s: number; h: number; toHolder: boolean; instant: boolean }
  | { t: 'receive'; s: number }
  | { t: 'commit'; s: number }
  | { t: 'abort'; s: number }

interface Scenario {
  nodes: number
  files: number
  rules: Rules
  /** initial[f][n]: node n starts with file f. */
  initial: boolean[][]
  actions: Action[]
}

interface Stats {
  runs: number
  actions?: number
  deletes: number
  /** Deletes while another node had a cleanup of the same file open. */
  concurrentDeletes: number
  /** Deletes that left exactly `required` live copies: the rule was tight. */
  tightDeletes: number
  /** Deletes by a node that had been restarted or had rejoined. */
  deletesAfterRestart: number
  refusedBegins: number
  refusedAttests: number
  deniedCommits: number
}

const newStats = (): Stats => ({
  runs: 0,
  deletes: 0,
  concurrentDeletes: 0,
  tightDeletes: 0,
  deletesAfterRestart: 0,
  refusedBegins: 0,
  refusedAttests: 0,
  deniedCommits: 0,
})

interface ModelOptions {
  guard?: GuardFactory
  /** 'durable' (default): the leases a node granted survive its restart; 'forget': a restart builds a fresh guard. */
  restart?: 'durable' | 'forget'
  /** Only the first `cleaners` nodes start cleanups (default: all). */
  cleaners?: number
}

const realGuard: GuardFactory = (id, rules, clock) => new DeletionGuard(id, rules, clock)

const fileName = (i: number): string => `f${i}`.padEnd(64, '0')

const pick = <T>(list: T[], i: number): T | undefined => (list.length === 0 ? undefined : list[i % list.length])

/** Runs one scenario; throws, with the trace, when a delete breaks the rule. */
async function runModel(s: Scenario, stats: Stats, opts: ModelOptions = {}): Promise<void> {
  const makeGuard = opts.guard ?? realGuard
  const clock = new ManualClock()
  const t0 = clock.now()
  const { rules } = s
  const N = rules.required
  const guardRules: DeletionRules = { required: rules.required, maxAgeMs: rules.maxAgeMs, leaseMs: rules.leaseMs }
  const slots: Slot[] = []
  for (let n = 0; n < s.nodes; n++) {
    const id = `n${n}`
    const files = new Set<string>()
    for (let f = 0; f < s.files; f++) if (s.initial[f]?.[n] === true) files.add(fileName(f))
    slots.push({ id, gen: 0, alive: true, files, guard: makeGuard(id, guardRules, clock), sessions: new Map() })
  }
  const restarted = new Set<Slot>()
  const isLive = (peer: string): boolean => slots.some((x) => x.id === peer && x.alive)
  const holders = (f: string, liveOnly: boolean): Slot[] => slots.filter((x) => x.files.has(f) && (!liveOnly || x.alive))
  const sessions = (): { x: Slot; f: string; session: Session }[] =>
    slots.flatMap((x) => [...x.sessions].map(([f, session]) => ({ x, f, session })))
  const trace: string[] = []
  const fail = (msg: string): never => {
    throw new Error(`${msg}\nrules ${JSON.stringify(rules)}\n${trace.join('\n')}`)
  }
  /** The process dies: its cleanups in flight die with it. */
  const dropSessions = (x: Slot): void => {
    for (const f of x.sessions.keys()) x.guard.end(f)
    x.sessions.clear()
  }

  stats.runs++
  stats.actions = (stats.actions ?? 0) + s.actions.length
  for (const a of s.actions) {
    const at = `t=${clock.now() - t0}`
    switch (a.t) {
      case 'write': {
        const x = pick(slots.filter((y) => y.alive), a.n)
        if (x == null) break
        const f = fileName(a.f % s.files)
        x.files.add(f)
        trace.push(`${at} ${x.id} writes ${f.slice(0, 2)}`)
        break
      }
      case 'replicate': {
        const f = fileName(a.f % s.files)
        const from = pick(holders(f, true), a.from)
        const to = pick(
          slots.filter((y) => y.alive && !y.files.has(f)),
          a.to,
        )
        if (from == null || to == null) break
        to.files.add(f)
        trace.push(`${at} ${from.id} -> ${to.id} copies ${f.slice(0, 2)}`)
        break
      }
      case 'kill': {
        const x = pick(slots.filter((y) => y.alive), a.n)
        if (x == null) break
        x.alive = false
        dropSessions(x)
        trace.push(`${at} kill ${x.id}`)
        break
      }
      case 'restart': {
        const x = pick(slots.filter((y) => !y.alive), a.n)
        if (x == null) break
        x.alive = true
        restarted.add(x)
        if (opts.restart === 'forget') x.guard = makeGuard(x.id, guardRules, clock)
        trace.push(`${at} restart ${x.id}`)
        break
      }
      case 'bounce': {
        const x = pick(slots.filter((y) => y.alive), a.n)
        if (x == null) break
        dropSessions(x)
        restarted.add(x)
        if (opts.restart === 'forget') x.guard = makeGuard(x.id, guardRules, clock)
        trace.push(`${at} ${x.id} crashes and restarts`)
        break
      }
      case 'rejoin': {
        // the old identity is dead for good; the machine comes back as someone new, with its files
        const x = pick(slots, a.n)!
        const old = x.id
        dropSessions(x)
        x.gen++
        x.id = `n${slots.indexOf(x)}.${x.gen}`
        x.guard = makeGuard(x.id, guardRules, clock)
        x.alive = true
        restarted.add(x)
        trace.push(`${at} ${old} rejoins as ${x.id}`)
        break
      }
      case 'advance': {
        const ms = {
          tick: 1,
          maxAge: rules.maxAgeMs,
          leaseMinusMaxAge: rules.leaseMs - rules.maxAgeMs,
          lease: rules.leaseMs,
          timeout: rules.timeoutMs,
          long: 3 * rules.leaseMs,
          random: Math.round(a.frac * 2 * rules.leaseMs),
        }[a.by]
        await clock.advance(Math.max(0, ms))
        trace.push(`${at} advance ${ms} ms`)
        break
      }
      case 'begin': {
        const f = fileName(a.f % s.files)
        const x = pick(
          holders(f, true).filter((y) => !y.sessions.has(f) && slots.indexOf(y) < (opts.cleaners ?? slots.length)),
          a.n,
        )
        if (x == null) break
        const ok = x.guard.begin(f)
        if (ok) x.sessions.set(f, { atts: [], pending: [] })
        else stats.refusedBegins++
        trace.push(`${at} ${x.id} begin ${f.slice(0, 2)}: ${ok}`)
        break
      }
      case 'ask': {
        const open = pick(sessions(), a.s)
        if (open == null) break
        const { x, f, session } = open
        // each peer once per cleanup; a dead node answers nothing; one that does not hold it says so
        const asked = new Set([...session.atts.map((t) => t.peer), ...session.pending.map((p) => p.peer)])
        const h = pick(
          slots.filter((y) => y !== x && y.alive && !asked.has(y.id) && (!a.toHolder || y.files.has(f))),
          a.h,
        )
        if (h == null) break
        const ok = h.guard.attest(f, h.files.has(f))
        trace.push(`${at} ${x.id} asks ${h.id} for ${f.slice(0, 2)}: ${ok}${ok && !a.instant ? ' (answer on its way)' : ''}`)
        if (!ok) {
          stats.refusedAttests++
          break
        }
        if (a.instant) session.atts.push({ peer: h.id, sha256: f, size: 1, timeMs: clock.now() })
        else session.pending.push({ peer: h.id, askedAt: clock.now() })
        break
      }
      case 'receive': {
        const open = pick(
          sessions().filter((o) => o.session.pending.length > 0),
          a.s,
        )
        if (open == null) break
        const now = clock.now()
        for (const p of open.session.pending) {
          // stamped on arrival with the requester's clock; a late answer is a timeout, not a copy
          const late = now - p.askedAt > rules.timeoutMs
          if (!late) open.session.atts.push({ peer: p.peer, sha256: open.f, size: 1, timeMs: now })
          trace.push(`${at} ${open.x.id} receives ${p.peer}'s answer for ${open.f.slice(0, 2)}${late ? ': too late' : ''}`)
        }
        open.session.pending = []
        break
      }
      case 'commit': {
        const open = pick(sessions(), a.s)
        if (open == null) break
        const { x, f, session } = open
        const before = holders(f, false).length
        const may = x.guard.mayDelete(f, session.atts, isLive)
        trace.push(`${at} ${x.id} commit ${f.slice(0, 2)} with ${session.atts.map((t) => t.peer).join(',') || 'nobody'}: ${may}`)
        if (may) {
          x.files.delete(f)
          stats.deletes++
          const live = holders(f, true).map((y) => y.id)
          trace.push(`    live holders now: ${live.join(',') || 'none'}`)
          if (before === 1) fail(`${x.id} deleted the only copy of ${f.slice(0, 2)}`)
          if (before <= N) fail(`${x.id} deleted ${f.slice(0, 2)} with ${before} copies in all, ${N} required elsewhere`)
          if (live.length < N) fail(`${x.id} deleted ${f.slice(0, 2)}, leaving ${live.length} live copies, ${N} required`)
          if (live.length === N) stats.tightDeletes++
          if (sessions().some((o) => o.f === f && o.x !== x)) stats.concurrentDeletes++
          if (restarted.has(x)) stats.deletesAfterRestart++
        } else {
          stats.deniedCommits++
          const k = x.guard.leased(f) ? 'selfLeased' : session.atts.length === 0 ? 'noAtts' : `atts${new Set(session.atts.map((t) => t.peer)).size}<${N}`
          ;(stats as unknown as Record<string, number>)[k] = ((stats as unknown as Record<string, number>)[k] ?? 0) + 1
        }
        x.guard.end(f)
        x.sessions.delete(f)
        break
      }
      case 'abort': {
        const open = pick(sessions(), a.s)
        if (open == null) break
        open.x.guard.end(open.f)
        open.x.sessions.delete(open.f)
        trace.push(`${at} ${open.x.id} aborts ${open.f.slice(0, 2)}`)
        break
      }
    }
    checkAttestationsTrue()
  }

  /**
   * The lemma the rule rests on, checked after every step: an attestation a
   * cleanup holds that could still count (fresh, from a live peer) is still
   * true, i.e. that peer still holds the file.
   */
  function checkAttestationsTrue(): void {
    const now = clock.now()
    for (const { x, f, session } of sessions()) {
      for (const att of session.atts) {
        if (now - att.timeMs > rules.maxAgeMs || !isLive(att.peer)) continue
        if (!slots.some((y) => y.id === att.peer && y.files.has(f))) {
          fail(`${x.id} holds a fresh attestation from live ${att.peer} for ${f.slice(0, 2)}, which ${att.peer} no longer holds`)
        }
      }
    }
  }
}

const MAX_NODES = 5

/** Rules that meet the precondition maxAgeMs + timeoutMs < leaseMs, often right at its edge. */
const safeRules: fc.Arbitrary<Rules> = fc
  .record({
    required: fc.integer({ min: 1, max: 3 }),
    leaseMs: fc.integer({ min: 100, max: 120_000 }),
    timeoutFrac: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.3, noNaN: true })),
    ageFrac: fc.oneof(fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })),
  })
  .map(({ required, leaseMs, timeoutFrac, ageFrac }) => {
    const timeoutMs = Math.floor(leaseMs * timeoutFrac)
    // the largest age allowed is leaseMs - timeoutMs - 1
    const maxAgeMs = Math.max(0, Math.floor((leaseMs - timeoutMs - 1) * ageFrac))
    return { required, leaseMs, timeoutMs, maxAgeMs }
  })

const ix = fc.nat({ max: 2 * MAX_NODES })

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ t: fc.constant('write' as const), n: ix, f: ix }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('replicate' as const), from: ix, to: ix, f: ix }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('kill' as const), n: ix }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('restart' as const), n: ix }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('bounce' as const), n: ix }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('rejoin' as const), n: ix }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('advance' as const),
      by: fc.constantFrom<Advance>('tick', 'tick', 'tick', 'random', 'random', 'maxAge', 'leaseMinusMaxAge', 'lease', 'timeout', 'long'),
      frac: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
  { weight: 6, arbitrary: fc.record({ t: fc.constant('begin' as const), n: ix, f: ix }) },
  {
    weight: 12,
    arbitrary: fc.record({
      t: fc.constant('ask' as const),
      s: ix,
      h: ix,
      toHolder: fc.nat({ max: 3 }).map((k) => k > 0),
      instant: fc.nat({ max: 2 }).map((k) => k > 0),
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('receive' as const), s: ix }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('commit' as const), s: ix }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('abort' as const), s: ix }) },
)

function scenario(rules: fc.Arbitrary<Rules>, maxActions = 120): fc.Arbitrary<Scenario> {
  return fc
    .record({ nodes: fc.integer({ min: 3, max: MAX_NODES }), files: fc.integer({ min: 1, max: 2 }), rules })
    .chain(({ nodes, files, rules }) =>
      fc.record({
        nodes: fc.constant(nodes),
        files: fc.constant(files),
        rules: fc.constant(rules),
        initial: fc.array(fc.array(fc.boolean(), { minLength: nodes, maxLength: nodes }), { minLength: files, maxLength: files }),
        actions: fc.array(action, { minLength: 1, maxLength: maxActions, size: 'max' }),
      }),
    )
}

const NUM_RUNS = 1000

describe('cleanup rule, model of a cluster with the real DeletionGuard on every node', () => {
  it('never deletes a copy that leaves fewer than the required live copies, over random interleavings', async () => {
    const stats = newStats()
    await fc.assert(
      fc.asyncProperty(scenario(safeRules), (s) => runModel(s, stats)),
      { numRuns: NUM_RUNS },
    )

    // only worth something if deletes, concurrent ones and ones right at the limit, really happened
    // (measured over 1000 runs: about 300 deletes, 45 concurrent, 100 at the limit, 120 after a restart)
    expect(stats.deletes).toBeGreaterThan(NUM_RUNS / 8)
    expect(stats.concurrentDeletes).toBeGreaterThan(NUM_RUNS / 100)
    expect(stats.tightDeletes).toBeGreaterThan(NUM_RUNS / 25)
    expect(stats.deletesAfterRestart).toBeGreaterThan(NUM_RUNS / 20)
    expect(stats.refusedBegins).toBeGreaterThan(NUM_RUNS / 10)
    expect(stats.refusedAttests).toBeGreaterThan(NUM_RUNS / 10)
    expect(stats.deniedCommits).toBeGreaterThan(NUM_RUNS / 10)
  })

  it('A and B both cleaning up f while C also holds it, N=2: never fewer than 2 live copies', async () => {
    // only A and B clean up; any interleaving of their steps, with time passing
    const step: fc.Arbitrary<Action> = fc.oneof(
      fc.record({ t: fc.constant('begin' as const), n: fc.nat({ max: 1 }), f: fc.constant(0) }),
      fc.record({ t: fc.constant('begin' as const), n: fc.nat({ max: 1 }), f: fc.constant(0) }),
      fc.record({ t: fc.constant('ask' as const), s: fc.nat({ max: 1 }), h: fc.nat({ max: 1 }), toHolder: fc.constant(false), instant: fc.constant(true) }),
      fc.record({ t: fc.constant('commit' as const), s: fc.nat({ max: 1 }) }),
      fc.record({ t: fc.constant('abort' as const), s: fc.nat({ max: 1 }) }),
      fc.record({ t: fc.constant('advance' as const), by: fc.constantFrom<Advance>('tick', 'maxAge', 'lease'), frac: fc.constant(0) }),
    )
    const rules: Rules = { required: 2, leaseMs: 10_000, maxAgeMs: 9_999, timeoutMs: 0 }
    const stats = newStats()
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 30, size: 'max' }), (actions) =>
        runModel({ nodes: 3, files: 1, rules, initial: [[true, true, true]], actions }, stats, { cleaners: 2 }),
      ),
      { numRuns: 500 },
    )
    // one of them got to delete in many runs, and the other was refused in many
    expect(stats.deletes).toBeGreaterThan(3)
    expect(stats.refusedBegins + stats.refusedAttests).toBeGreaterThan(50)
  })

  describe('the same model finds a counterexample when the rule is broken', () => {
    class NoLeaseGuard extends DeletionGuard {
      override attest(sha256: string, holdsVerifiedCopy: boolean): boolean {
        return holdsVerifiedCopy && !this.deleting(sha256)
      }
    }

    const expectCounterexample = async (rules: fc.Arbitrary<Rules>, opts: ModelOptions): Promise<void> => {
      const out = await fc.check(
        fc.asyncProperty(scenario(rules), (s) => runModel(s, newStats(), opts)),
        { numRuns: 20000, endOnFailure: true },
      )
      expect(out.failed).toBe(true)
      expect(String(out.errorInstance)).toMatch(/deleted|no longer holds/)
    }

    it('no quorum (required 0)', async () => {
      await expectCounterexample(
        safeRules.map((r) => ({ ...r, required: 0 })),
        {},
      )
    })

    it('quorum one short (required N-1 while N must stay)', async () => {
      // the guard asks for one attestation fewer than the model demands to remain
      await expectCounterexample(
        safeRules.filter((r) => r.required >= 2),
        { guard: (id, r, c) => new DeletionGuard(id, { ...r, required: r.required - 1 }, c) },
      )
    })

    it('attest() without a lease', async () => {
      await expectCounterexample(safeRules, { guard: (id, r, c) => new NoLeaseGuard(id, r, c) })
    })

    it('a restart that forgets the leases the node granted', async () => {
      await expectCounterexample(safeRules, { restart: 'forget' })
    })

    it('attestations that count as long as the lease runs (maxAgeMs = leaseMs)', async () => {
      await expectCounterexample(
        safeRules.map((r) => ({ ...r, timeoutMs: 0, maxAgeMs: r.leaseMs })),
        {},
      )
    })

  })
})

/**
 * The race the lease closes, step by step. N=1; A, B and C hold f. A starts
 * a cleanup and B attests; then B cleans up too, with C's attestation; C dies.
 * A's attestation from B (B live, attestation fresh) would still count though
 * B's copy is gone.
 */
describe('why intent and lease matter', () => {
  const f = fileName(0)
  const rules: DeletionRules = { required: 1, maxAgeMs: 5_000, leaseMs: 10_000 }

  it('two nodes cleaning up the same file refuse to attest for each other (intent)', () => {
    const clock = new ManualClock()
    const a = new DeletionGuard('A', rules, clock)
    const b = new DeletionGuard('B', rules, clock)
    expect(a.begin(f)).toBe(true)
    expect(b.begin(f)).toBe(true)
    expect(b.attest(f, true)).toBe(false)
    expect(a.attest(f, true)).toBe(false)
    expect(a.mayDelete(f, [], () => true)).toBe(false)
    expect(b.mayDelete(f, [], () => true)).toBe(false)
    // a second cleanup of the same file on the same node is refused too
    expect(a.begin(f)).toBe(false)
  })

  it('with the real guard, B may not start deleting f while its lease to A runs', async () => {
    const clock = new ManualClock()
    const a = new DeletionGuard('A', rules, clock)
    const b = new DeletionGuard('B', rules, clock)
    expect(a.begin(f)).toBe(true)
    expect(b.attest(f, true)).toBe(true)
    const fromB: Attestation = { peer: 'B', sha256: f, size: 1, timeMs: clock.now() }
    await clock.advance(1_000)
    expect(b.begin(f)).toBe(false)
    expect(b.leased(f)).toBe(true)
    // so B keeps its copy, and A may delete on B's word
    expect(a.mayDelete(f, [fromB], (p) => p === 'B')).toBe(true)
    // the lease runs out only after the attestation stopped counting
    await clock.advance(rules.leaseMs - 1_000)
    expect(b.begin(f)).toBe(true)
    expect(a.mayDelete(f, [fromB], () => true)).toBe(false)
  })

  it('without the lease, the same interleaving leaves no live copy', () => {
    class NoLeaseGuard extends DeletionGuard {
      override attest(sha256: string, holdsVerifiedCopy: boolean): boolean {
        return holdsVerifiedCopy && !this.deleting(sha256)
      }
    }
    const clock = new ManualClock()
    const a = new NoLeaseGuard('A', rules, clock)
    const b = new NoLeaseGuard('B', rules, clock)
    const c = new NoLeaseGuard('C', rules, clock)
    const live = new Set(['A', 'B', 'C'])
    const holders = new Set(['A', 'B', 'C'])
    const att = (peer: string): Attestation => ({ peer, sha256: f, size: 1, timeMs: clock.now() })
    expect(a.begin(f)).toBe(true)
    expect(b.attest(f, holders.has('B'))).toBe(true)
    const fromB = att('B')
    expect(b.begin(f)).toBe(true) // the lease refuses exactly this
    expect(c.attest(f, holders.has('C'))).toBe(true)
    expect(b.mayDelete(f, [att('C')], (p) => live.has(p))).toBe(true)
    holders.delete('B')
    live.delete('C')
    expect(a.mayDelete(f, [fromB], (p) => live.has(p))).toBe(true)
    holders.delete('A')
    expect([...holders].filter((h) => live.has(h))).toEqual([])
  })
})
