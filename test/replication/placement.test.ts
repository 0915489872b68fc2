import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { resolvePolicies } from '../../src/config/policies.js'
import type { PolicyConfig } from '../../src/config/schema.js'
import { type FileFacts, type NodeFacts, place } from '../../src/replication/placement.js'

const GiB = 2 ** 30
const policies = resolvePolicies(undefined)
const policy = (name: string) => policies.find((p) => p.name === name)!
const custom = (p: Partial<PolicyConfig>) => ({ ...policy('default'), ...p })

function node(peerId: string, over: Partial<NodeFacts> = {}): NodeFacts {
  return { peerId, name: peerId, role: 'worker', tags: [], ephemeral: false, state: 'up', counts: true, diskFree: 100 * GiB, diskLevel: 'ok', accepting: true, evacuating: false, ...over }
}
const mapOf = (list: NodeFacts[]) => new Map(list.map((n) => [n.peerId, n]))
function file(sha: string, holders: string[], over: Partial<FileFacts> = {}): FileFacts {
  return { sha256: sha, path: 'data/x.dat', size: 1024 * 1024, origin: holders[0] ?? 'a', promoted: false, holders, ...over }
}
const sha = (i: number) => i.toString(16).padStart(64, '0')

describe('placement', () => {
  it('every node computes the same replica set, whatever order it knows the nodes in', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.shuffledSubarray(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], { minLength: 8, maxLength: 8 }), (i, order) => {
        const nodes = order.map((id) => node(id, { diskFree: (10 + id.charCodeAt(0)) * GiB }))
        const f = file(sha(i), ['a'])
        const one = place(f, mapOf(nodes), policy('default'))
        const other = place(f, mapOf([...nodes].reverse()), policy('default'))
        expect(one.desired).toEqual(other.desired)
        expect(one.desired).toHaveLength(2)
        expect(one.desired[0]).toBe('a') // the copy it has stays
      }),
    )
  })

  it('spreads files across nodes (rendezvous), weighted towards free disk', () => {
    const nodes = ['a', 'b', 'c', 'd', 'e'].map((id) => node(id, { diskFree: (id === 'e' ? 400 : 100) * GiB }))
    const count = new Map<string, number>()
    for (let i = 0; i < 2000; i++) {
      const second = place(file(sha(i), ['a']), mapOf(nodes), policy('default')).desired[1]!
      count.set(second, (count.get(second) ?? 0) + 1)
    }
    expect(count.get('a')).toBeUndefined()
    // e has 4x the free disk of b, c and d: it gets about 4/7 of the second copies
    expect(count.get('e')!).toBeGreaterThan(2000 * 0.45)
    for (const id of ['b', 'c', 'd']) expect(count.get(id)!).toBeGreaterThan(2000 * 0.08)
  })

  it('respects roles: NPZ to every training node, never a coordinator; games anywhere but coordinators', () => {
    const nodes = mapOf([node('gen', { role: 'selfplay' }), node('t1', { role: 'training' }), node('t2', { role: 'training' }), node('co', { role: 'coordinator' })])
    expect(place(file(sha(1), ['gen']), nodes, policy('npz')).desired.sort()).toEqual(['gen', 't1', 't2'])
    for (let i = 0; i < 200; i++) expect(place(file(sha(i), ['gen']), nodes, policy('games')).desired).not.toContain('co')
  })

  it('keeps copies that count where they are, and a down holder within grace still counts', () => {
    const nodes = mapOf([node('a'), node('b', { state: 'down', counts: true }), node('c'), node('d')])
    const p = place(file(sha(7), ['a', 'b']), nodes, policy('default'))
    expect(p.desired.sort()).toEqual(['a', 'b'])
    expect(p.repair).toBe(false)
  })

  it('a holder down past its grace is a lost copy: a repair to a live node', () => {
    const nodes = mapOf([node('a'), node('b', { state: 'down', counts: false }), node('c'), node('d')])
    const p = place(file(sha(7), ['a', 'b']), nodes, policy('default'))
    expect(p.repair).toBe(true)
    expect(p.copies).toEqual(['a'])
    expect(p.desired).toHaveLength(2)
    expect(p.desired).not.toContain('b')
  })

  it('an evacuating or pressured holder counts for safety but gets its minimum elsewhere, with raised priority', () => {
    const nodes = mapOf([node('a', { evacuating: true }), node('b'), node('c'), node('d', { diskLevel: 'full' })])
    const p = place(file(sha(3), ['a']), nodes, policy('default'))
    expect(p.copies).toEqual(['a'])
    expect(p.desired.sort()).toEqual(['b', 'c'])
    expect(p.priority).toBe('critical')
  })

  it('a pressured holder is never its own target: the raised priority does not let it take back the copy it is to let go', () => {
    // x is full and holds the file with a; only b can make the minimum on stable nodes. Raised to critical, the
    // full x may receive critical data, but it already holds this one: were it desired, b would never pull,
    // x's cleanup would never find enough copies elsewhere, and the full disk would stay full
    for (let i = 0; i < 200; i++) {
      const nodes = mapOf([node('x', { diskLevel: 'full', accepting: false }), node('a'), node('b')])
      const p = place(file(sha(i), ['x', 'a']), nodes, policy('default'))
      expect(p.priority).toBe('critical')
      expect(p.desired.sort()).toEqual(['a', 'b'])
      for (const level of ['push', 'urgent'] as const) {
        const q = place(file(sha(i), ['x', 'a']), mapOf([node('x', { diskLevel: level }), node('a'), node('b')]), policy('default'))
        expect(q.desired.sort()).toEqual(['a', 'b'])
      }
    }
  })

  it('data made on an ephemeral node gets its minimum on other nodes, first', () => {
    const nodes = mapOf([node('spot', { ephemeral: true }), node('b'), node('c'), node('d')])
    const p = place(file(sha(5), ['spot'], { origin: 'spot' }), nodes, policy('default'))
    expect(p.desired).not.toContain('spot')
    expect(p.desired).toHaveLength(2)
    expect(p.priority).toBe('high')
  })

  it('a full node receives nothing but critical data, a busy one only a copy no idle node can take; excluded hosts never', () => {
    const nodes = mapOf([node('a'), node('full', { diskLevel: 'full' }), node('busy', { accepting: false }), node('ok')])
    for (let i = 0; i < 100; i++) {
      // an idle node takes the second copy: the busy one is left alone
      expect(place(file(sha(i), ['a']), nodes, custom({})).desired.sort()).toEqual(['a', 'ok'])
      // no idle node may take it: the busy node takes it rather than leave the file under its minimum
      expect(place(file(sha(i), ['a']), nodes, custom({ excludeHosts: ['ok'] })).desired).toEqual(['a', 'busy'])
      // a full disk is never overridden, and neither is an excluded host
      expect(place(file(sha(i), ['a']), nodes, custom({ excludeHosts: ['ok', 'busy'] })).desired).toEqual(['a'])
    }
    const promoted = place(file(sha(9), ['a'], { promoted: true }), nodes, policy('default'))
    expect(promoted.priority).toBe('critical')
    expect(promoted.desired.sort()).toEqual(['a', 'busy', 'full', 'ok'])
  })

  it('priority hosts come first', () => {
    const nodes = mapOf(['a', 'b', 'c', 'd', 'e'].map((id) => node(id)))
    for (let i = 0; i < 50; i++) expect(place(file(sha(i), ['a']), nodes, custom({ priorityHosts: ['d'] })).desired).toEqual(['a', 'd'])
  })
})
