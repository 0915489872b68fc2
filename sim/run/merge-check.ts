import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { snapshotSqlite } from '../../src/catalog/sqlite-snapshot.js'
import { builds, compileRules, type MergeRule } from '../../src/merge/rules.js'
import type { MergeConfig, Role } from '../../src/config/schema.js'
import type { InvariantResult } from '../report/types.js'
import type { DiskFile } from './disk-scan.js'
import type { Breach } from './invariants.js'
import type { Ledger } from './ledger.js'

export interface CheckedNode {
  name: string
  id: { role: string; tags: string[] }
  dataDir: string
  alive: boolean
}

/**
 * mergedExactlyOnce, for scenarios with build merges in their config: after
 * settling, every game of every source database written (that counts, as in
 * noDataLost) is in each live builder's target for it exactly once, and the
 * target holds no other game. Targets are read from consistent snapshots
 * (never opened in place: they are live databases).
 */
export class MergeCheck {
  readonly rules: MergeRule[]
  readonly #workDir: () => string
  readonly #ids = new Map<string, string[]>()

  constructor(merges: Record<string, MergeConfig>, workDir: () => string) {
    this.rules = compileRules(merges).filter((r) => r.mode === 'build')
    this.#workDir = workDir
  }

  /** A merge target (or a peer's copy of one): written by the nodes, not in the ledger. */
  isTarget(path: string): boolean {
    return this.rules.some((r) => r.isTarget(path))
  }

  async check(ledger: Ledger, nodes: CheckedNode[], disk: Map<string, DiskFile[]>): Promise<{ result: InvariantResult; breaches: Breach[] }> {
    if (this.rules.length === 0) return { result: { ok: true, detail: { skipped: 'no build merges in this scenario' } }, breaches: [] }
    const live = new Set(nodes.filter((n) => n.alive).map((n) => n.name))
    const breaches: Breach[] = []
    const detail: Record<string, unknown>[] = []
    for (const rule of this.rules) {
      const table = rule.tables[0]!
      const expected = new Map<string, Set<string>>()
      for (const f of ledger.all()) {
        const values = f.kind === 'sqlite' ? rule.sourceMatch(f.path) : undefined
        if (values == null || (f.ackedAtMs == null && !live.has(f.origin))) continue
        const ids = this.#sourceIds(f.sha256, nodes, disk, table.name, table.key[0]!)
        if (ids == null) continue
        const target = rule.targetFor(values)
        const set = expected.get(target) ?? new Set<string>()
        for (const id of ids) set.add(id)
        expected.set(target, set)
      }
      for (const n of nodes) {
        if (!n.alive || !builds(rule, { role: n.id.role as Role, tags: n.id.tags })) continue
        for (const [target, want] of expected) {
          const got = await this.#targetIds(join(n.dataDir, target), table.name, table.key[0]!)
          const missing = [...want].filter((id) => !got.has(id))
          const extra = [...got.keys()].filter((id) => !want.has(id))
          const twice = [...got.entries()].filter(([, c]) => c > 1).map(([id]) => id)
          detail.push({ merge: rule.name, node: n.name, target, games: want.size, inTarget: got.size, missing: missing.length, extra: extra.length, twice: twice.length })
          if (missing.length + extra.length + twice.length > 0) {
            breaches.push({
              invariant: 'mergedExactlyOnce',
              message: `${target} on ${n.name}: ${missing.length} of ${want.size} games missing${missing.length > 0 ? ` (e.g. ${missing[0]})` : ''}, ${twice.length} twice, ${extra.length} never written`,
            })
          }
        }
      }
    }
    return { result: { ok: breaches.length === 0, detail: { targets: detail } }, breaches }
  }

  /** True once every live builder's targets hold exactly their sources' games (the settle phase waits for it). */
  async complete(ledger: Ledger, nodes: CheckedNode[], disk: Map<string, DiskFile[]>): Promise<boolean> {
    return (await this.check(ledger, nodes, disk)).result.ok
  }

  /** The key values of a source, read from any copy on disk whose bytes are that version. */
  #sourceIds(sha256: string, nodes: CheckedNode[], disk: Map<string, DiskFile[]>, table: string, key: string): string[] | undefined {
    const cached = this.#ids.get(sha256)
    if (cached != null) return cached
    for (const n of nodes) {
      const f = disk.get(n.name)?.find((x) => x.sha256 === sha256)
      if (f == null) continue
      const db = new Database(join(n.dataDir, f.path), { readonly: true, fileMustExist: true })
      try {
        const ids = (db.prepare(`SELECT "${key}" FROM "${table}"`).raw().all() as string[][]).map((r) => String(r[0]))
        this.#ids.set(sha256, ids)
        return ids
      } finally {
        db.close()
      }
    }
    return undefined
  }

  async #targetIds(abs: string, table: string, key: string): Promise<Map<string, number>> {
    const tmp = join(this.#workDir(), `merge-check-${randomBytes(4).toString('hex')}.db`)
    try {
      await snapshotSqlite(abs, tmp)
    } catch {
      return new Map()
    }
    const db = new Database(tmp, { readonly: true })
    try {
      const rows = db.prepare(`SELECT "${key}" AS k, count(*) AS n FROM "${table}" GROUP BY "${key}"`).all() as { k: unknown; n: number }[]
      return new Map(rows.map((r) => [String(r.k), r.n]))
    } catch {
      return new Map()
    } finally {
      db.close()
      await rm(tmp, { force: true })
    }
  }
}
