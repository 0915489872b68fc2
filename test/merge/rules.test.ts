import { describe, expect, it } from 'vitest'
import { resolveLayers } from '../../src/config/load.js'
import { configSchema } from '../../src/config/schema.js'
import { policyFor } from '../../src/config/policies.js'
import { homeOf, planBuild, planConverge, supersededCopies } from '../../src/merge/planner.js'
import { compileRules } from '../../src/merge/rules.js'
import { ConfigError } from '../../src/util/errors.js'

const rules = (merges: unknown) => compileRules(configSchema.parse({ merges }).merges)
const TABLES = { games: { key: ['game_id'] } }

describe('merge rules', () => {
  const [canon] = rules({ canon: { sources: ['selfplay/{board}_{players}p/*.db', 'extra/{board}_{players}p.db'], target: 'games/canonical_{board}_{players}p.db', tables: TABLES } })

  it('takes placeholders from the source path and fills the target with them', () => {
    expect(canon!.sourceMatch('selfplay/hex8_2p/gpu-1.db')).toEqual({ board: 'hex8', players: '2' })
    expect(canon!.targetFor({ board: 'hex8', players: '2' })).toBe('games/canonical_hex8_2p.db')
    expect(canon!.sourceMatch('extra/square19_4p.db')).toEqual({ board: 'square19', players: '4' })
    expect(canon!.sourceMatch('selfplay/hex8_2p/sub/gpu-1.db')).toBeUndefined()
    expect(canon!.sourceMatch('selfplay/hex8/gpu-1.db')).toBeUndefined()
  })

  it('never takes a target, or a peer copy of one landed beside it, as a source', () => {
    const [wide] = rules({ w: { sources: ['**/*.db'], target: 'games/canonical.db', tables: TABLES } })
    expect(wide!.sourceMatch('games/canonical.db')).toBeUndefined()
    expect(wide!.sourceMatch('games/canonical.0123456789ab.db')).toBeUndefined()
    expect(wide!.sourceMatch('games/canonical.0123456789ab.0123456789ab.db')).toBeUndefined()
    expect(wide!.sourceMatch('games/other.db')).toEqual({})
    const plan = planBuild(wide!, [
      { path: 'games/canonical.db', sha256: 'a', kind: 'sqlite', origin: 'x', version: 1 },
      { path: 'sp/b.db', sha256: 'b', kind: 'sqlite', origin: 'x', version: 1 },
      { path: 'sp/c.npz', sha256: 'c', kind: 'npz', origin: 'x', version: 1 },
    ])
    expect(plan).toEqual([{ target: 'games/canonical.db', sources: [expect.objectContaining({ path: 'sp/b.db' })] }])
  })

  it('converge: the local file is the target, landed peer versions are its sources', () => {
    const [elo] = rules({ elo: { mode: 'converge', sources: ['**/elo*.db'], tables: TABLES, conflict: 'newest:t' } })
    expect(homeOf('ratings/elo.0123456789ab.db')).toBe('ratings/elo.db')
    expect(homeOf('ratings/elo.0123456789ab.ba9876543210.db')).toBe('ratings/elo.db')
    const plans = planConverge(
      elo!,
      [
        { path: 'ratings/elo.db', sha256: 'mine', kind: 'sqlite', origin: 'me', version: 3 },
        { path: 'ratings/elo.0123456789ab.db', sha256: 'peer1', kind: 'sqlite', origin: 'p1', version: 2 },
      ],
      [
        { peer: 'p2', entry: { path: 'ratings/elo.db', sha256: 'peer2', kind: 'sqlite', origin: 'p2', version: 1 } },
        { peer: 'p1', entry: { path: 'ratings/elo.db', sha256: 'peer1', kind: 'sqlite', origin: 'p1', version: 2 } },
      ],
    )
    expect(plans).toHaveLength(1)
    expect(plans[0]!.target).toBe('ratings/elo.db')
    expect(plans[0]!.local.map((v) => v.sha256)).toEqual(['peer1'])
    expect(plans[0]!.remote.map((v) => v.entry.sha256)).toEqual(['peer2'])
  })

  it("drops a peer's copy of a target only once its origin announces a newer version (and, converge, once merged)", () => {
    const local = [
      { path: 'games/canonical.db', sha256: 'own', kind: 'sqlite', origin: 'me', version: 5 },
      { path: 'games/canonical.aaaaaaaaaaaa.db', sha256: 'a-old', kind: 'sqlite', origin: 'A', version: 1 },
      { path: 'games/canonical.bbbbbbbbbbbb.db', sha256: 'a-now', kind: 'sqlite', origin: 'A', version: 2 },
      { path: 'games/canonical.cccccccccccc.db', sha256: 'c-old', kind: 'sqlite', origin: 'C', version: 1 },
    ]
    const remote = [{ peer: 'A', entry: { path: 'games/canonical.db', sha256: 'a-now', kind: 'sqlite', origin: 'A', version: 2 } }]
    // C is not up: its copy stays; A's current version stays
    expect(supersededCopies('games/canonical.db', local, remote, () => true).map((c) => c.sha256)).toEqual(['a-old'])
    expect(supersededCopies('games/canonical.db', local, remote, () => false)).toEqual([])
  })

  it('a bad rule stops the node with the key named', () => {
    const load = (merges: unknown) => resolveLayers([{ source: 'test', values: { merges } }], { cwd: process.cwd() })
    expect(() => load({ x: { sources: ['a/*.db'], tables: TABLES } })).toThrow(/merges\.x\.target/)
    expect(() => load({ x: { sources: ['a/*.db'], target: 'b/{board}.db', tables: TABLES } })).toThrow(/placeholder \{board\}/)
    expect(() => load({ x: { sources: ['a/*.db'], target: '../b.db', tables: TABLES } })).toThrow(ConfigError)
    expect(() => load({ x: { sources: ['a/*.db'], target: 'b.db', tables: TABLES, conflict: 'newest' } })).toThrow(/conflict/)
  })

  it("the target's own policy comes before the others", () => {
    const cfg = resolveLayers([{ source: 'test', values: { merges: { c: { sources: ['sp/{b}/*.db'], target: 'games/canonical_{b}.db', tables: TABLES, policy: { minCopies: 4, maxCopies: 5, roles: ['storage'] } } } } }], { cwd: process.cwd() })
    const p = policyFor(cfg.resolvedPolicies, 'games/canonical_hex8.db', 'sqlite')
    expect(p).toMatchObject({ name: 'merge-c', minCopies: 4, roles: ['storage'] })
    expect(policyFor(cfg.resolvedPolicies, 'games/canonical_hex8.0123456789ab.db', 'sqlite').name).toBe('merge-c')
    expect(policyFor(cfg.resolvedPolicies, 'sp/hex8/a.db', 'sqlite').name).toBe('games')
  })
})
