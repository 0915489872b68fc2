import { altPattern, type MergeRule } from './rules.js'

/** A source version as the catalog knows it (local or a peer's manifest entry). */
export interface SourceVersion {
  path: string
  sha256: string
  kind: string
  origin: string
  version: number
  /** Internal consistent snapshot served instead of the live file (local live databases). */
  snapshot?: string
}

export interface RemoteVersion {
  peer: string
  entry: SourceVersion
}

/** Build mode: a target and the local source versions that feed it, in a fixed order. */
export interface BuildPlan {
  target: string
  sources: SourceVersion[]
}

const byPathThenSha = (a: SourceVersion, b: SourceVersion): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.sha256 < b.sha256 ? -1 : 1)

/** Which local sources feed which target of a build rule. */
export function planBuild(rule: MergeRule, local: Iterable<SourceVersion>): BuildPlan[] {
  const byTarget = new Map<string, SourceVersion[]>()
  for (const e of local) {
    if (e.kind !== 'sqlite') continue
    const values = rule.sourceMatch(e.path)
    if (values == null) continue
    let target: string
    try {
      target = rule.targetFor(values)
    } catch {
      continue
    }
    if (target === e.path) continue
    const list = byTarget.get(target) ?? []
    list.push(e)
    byTarget.set(target, list)
  }
  return [...byTarget.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([target, sources]) => ({ target, sources: sources.sort(byPathThenSha) }))
}

/** Source versions peers announce that this builder does not hold (it pulls them), one holder each. */
export function missingSources(rule: MergeRule, held: Set<string>, remote: Iterable<RemoteVersion>): RemoteVersion[] {
  const out = new Map<string, RemoteVersion>()
  for (const r of remote) {
    if (r.entry.kind !== 'sqlite' || held.has(r.entry.sha256) || out.has(r.entry.sha256)) continue
    if (rule.sourceMatch(r.entry.path) == null) continue
    out.set(r.entry.sha256, r)
  }
  return [...out.values()]
}

const ALT_SUFFIX = /(?:\.[0-9a-f]{12})+(\.[^./]+)?$/

/** The path a landed peer copy stands for (`elo.0123456789ab.db` → `elo.db`), or undefined when it is not one. */
export function homeOf(path: string): string | undefined {
  const m = ALT_SUFFIX.exec(path)
  if (m == null) return undefined
  return path.slice(0, m.index) + (m[1] ?? '')
}

/** Converge mode: a local copy (the target) and the other versions of it here and at peers. */
export interface ConvergePlan {
  target: string
  targetSha: string
  /** Peer versions already landed here beside the target. */
  local: SourceVersion[]
  /** Peer versions not held here. */
  remote: RemoteVersion[]
}

export function planConverge(rule: MergeRule, local: SourceVersion[], remote: Iterable<RemoteVersion>): ConvergePlan[] {
  const homes = local.filter((e) => e.kind === 'sqlite' && rule.sourceMatch(e.path) != null && !isAlt(rule, e.path))
  const held = new Set(local.map((e) => e.sha256))
  const remoteList = [...remote]
  return homes
    .sort(byPathThenSha)
    .map((home) => {
      const alt = altPattern(home.path)
      const isVersion = (p: string) => p === home.path || alt.test(p)
      const copies = local.filter((e) => e.path !== home.path && alt.test(e.path) && e.sha256 !== home.sha256).sort(byPathThenSha)
      const missing = new Map<string, RemoteVersion>()
      for (const r of remoteList) {
        if (!isVersion(r.entry.path) || held.has(r.entry.sha256) || missing.has(r.entry.sha256)) continue
        missing.set(r.entry.sha256, r)
      }
      return { target: home.path, targetSha: home.sha256, local: copies, remote: [...missing.values()] }
    })
}

/** A peer's copy landed beside a local file of the same name, when that name is itself a source of the rule. */
function isAlt(rule: MergeRule, path: string): boolean {
  const home = homeOf(path)
  return home != null && rule.sourceMatch(home) != null
}

/**
 * Peers' copies of a target landed beside it (`name.<sha12>.ext`) that their
 * origin has since replaced with a newer version: the rows are in the local
 * target already (converge: once merged; build: this node builds the same
 * target), and nobody announces that version any more, so the copy is
 * dropped instead of piling up one file per version. A copy whose origin is
 * not up is kept.
 */
export function supersededCopies(target: string, local: SourceVersion[], remote: RemoteVersion[], merged: (sha256: string) => boolean): SourceVersion[] {
  const alt = altPattern(target)
  const current = new Map<string, string>()
  for (const r of remote) if (r.peer === r.entry.origin && r.entry.path === target) current.set(r.peer, r.entry.sha256)
  return local.filter((e) => alt.test(e.path) && current.has(e.origin) && current.get(e.origin) !== e.sha256 && merged(e.sha256))
}
