import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Database as Db } from 'better-sqlite3'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { configSchema } from '../../src/config/schema.js'
import { compileRules } from '../../src/merge/rules.js'
import { contentHash, mergeSnapshot, openTarget } from '../../src/merge/sql-merge.js'

/**
 * Converge mode on the merge function itself, real SQLite files, no
 * libp2p: three nodes change Elo ratings at once (some on the same models,
 * some at the same timestamp), then versions travel between them in a
 * random order (intermediate versions included) until every node has seen
 * every other's last version. All copies must end with the same rows and the
 * same content hash, whatever the order.
 */

const RULE = compileRules(
  configSchema.parse({
    merges: { elo: { mode: 'converge', sources: ['**/elo.db'], tables: { ratings: { key: ['model'] } }, conflict: 'newest:updated_at' } },
  }).merges,
)[0]!

const MODELS = ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']

interface Write {
  node: number
  model: number
  elo: number
  at: number
}

const write = fc.record({ node: fc.integer({ min: 0, max: 2 }), model: fc.integer({ min: 0, max: MODELS.length - 1 }), elo: fc.integer({ min: 1000, max: 2000 }), at: fc.integer({ min: 1, max: 6 }) })
/** A delivery: node `from` sends its current version to node `to`, after the first `after` writes happened. */
const delivery = fc.record({ from: fc.integer({ min: 0, max: 2 }), to: fc.integer({ min: 0, max: 2 }), after: fc.integer({ min: 0, max: 30 }) })

function open(dir: string, i: number): Db {
  mkdirSync(join(dir, `n${i}`))
  const db = openTarget(join(dir, `n${i}`, 'elo.db'), { create: true })
  db.exec('CREATE TABLE IF NOT EXISTS ratings(model TEXT PRIMARY KEY, elo REAL NOT NULL, games INTEGER NOT NULL, updated_at INTEGER NOT NULL)')
  return db
}

function apply(db: Db, w: Write): void {
  db.prepare(
    `INSERT INTO ratings VALUES (?, ?, 1, ?) ON CONFLICT(model) DO UPDATE SET elo = excluded.elo, games = games + 1, updated_at = max(updated_at, excluded.updated_at)`,
  ).run(MODELS[w.model], w.elo, w.at)
}

function rows(db: Db): unknown[] {
  return db.prepare('SELECT * FROM ratings ORDER BY model').all()
}

describe('converge: the same rows and content hash on every copy, whatever the order versions arrive in', () => {
  it('holds for random concurrent writes and random orders of arrival', () => {
    fc.assert(
      fc.property(fc.array(write, { minLength: 1, maxLength: 30 }), fc.array(delivery, { maxLength: 30 }), fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 6, maxLength: 6 }), (writes, deliveries, finalOrder) => {
        const dir = mkdtempSync(join(tmpdir(), 'meshsync-converge-'))
        const dbs = [0, 1, 2].map((i) => open(dir, i))
        try {
          const paths = [0, 1, 2].map((i) => join(dir, `n${i}`, 'elo.db'))
          const send = (from: number, to: number) => {
            if (from !== to) mergeSnapshot(dbs[to]!, paths[from]!, RULE.tables)
          }
          const sorted = [...deliveries].sort((a, b) => a.after - b.after)
          let next = 0
          writes.forEach((w, k) => {
            apply(dbs[w.node]!, w)
            while (next < sorted.length && sorted[next]!.after <= k) {
              send(sorted[next]!.from, sorted[next]!.to)
              next++
            }
          })
          // changes stop; every node hears from every other, in an order drawn by the test, twice round
          const pairs: [number, number][] = [
            [0, 1],
            [0, 2],
            [1, 0],
            [1, 2],
            [2, 0],
            [2, 1],
          ]
          const order = pairs.map((p, i) => ({ p, k: finalOrder[i]! })).sort((a, b) => a.k - b.k)
          for (let round = 0; round < 2; round++) for (const { p } of order) send(p[0], p[1])
          const hashes = dbs.map((db) => contentHash(db, RULE.tables))
          expect(new Set(hashes).size).toBe(1)
          expect(rows(dbs[1]!)).toEqual(rows(dbs[0]!))
          expect(rows(dbs[2]!)).toEqual(rows(dbs[0]!))
          // every model written anywhere is there, at the newest timestamp written for it
          const newest = new Map<string, number>()
          for (const w of writes) newest.set(MODELS[w.model]!, Math.max(newest.get(MODELS[w.model]!) ?? 0, w.at))
          const got = rows(dbs[0]!) as { model: string; updated_at: number }[]
          expect(new Map(got.map((r) => [r.model, r.updated_at]))).toEqual(newest)
        } finally {
          for (const db of dbs) db.close()
          rmSync(dir, { recursive: true, force: true })
        }
      }),
      { numRuns: 40 },
    )
  })

  it('a merge with keep-first is refused for converge (it would depend on arrival order)', () => {
    expect(() => compileRules(configSchema.parse({ merges: { elo: { mode: 'converge', sources: ['elo.db'], tables: { ratings: { key: ['model'] } } } } }).merges)).toThrow(/converge needs newest/)
  })
})
