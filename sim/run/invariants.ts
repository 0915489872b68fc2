import type { InvariantResult } from '../report/types.js'
import type { DiskFile } from './disk-scan.js'
import type { Ledger, LedgerFile } from './ledger.js'
import type { SinkCopyCheck } from './sink-copies.js'

export const INVARIANTS = ['noDataLost', 'nothingCorruptVisible', 'convergence', 'noStorm', 'mergedExactlyOnce'] as const
export type InvariantName = (typeof INVARIANTS)[number]

/** A broken invariant in one line: what, which file, which nodes. */
export interface Breach {
  invariant: InvariantName
  message: string
}

/**
 * How many live copies a file must have: its minimum, unless partitions still
 * in force (ones that never heal) cut it off from enough nodes. The file can
 * reach the live nodes on its origin's side and on the side of every live
 * holder; when those are fewer than its minimum while other live nodes exist
 * beyond the cut, it is at risk, not lost, and must have a copy on every node
 * it can reach (a permanently isolated writer must still hold what it wrote).
 * With no partition in force every live node is reachable, so a cluster that
 * shrank below a file's minimum still fails.
 */
export function copiesRequired(f: Pick<LedgerFile, 'origin' | 'minCopies'>, holders: readonly string[], components: readonly (readonly string[])[]): { required: number; atRisk: boolean; reach: string[] } {
  const reach = new Set<string>()
  let liveNodes = 0
  for (const side of components) {
    liveNodes += side.length
    if (side.includes(f.origin) || side.some((n) => holders.includes(n))) for (const n of side) reach.add(n)
  }
  if (reach.size < f.minCopies && reach.size < liveNodes) return { required: reach.size, atRisk: true, reach: [...reach].sort() }
  return { required: f.minCopies, atRisk: false, reach: [...reach].sort() }
}

/**
 * noDataLost: after settling, every file that counts has at least its
 * minimum copies on live nodes, each copy re-hashed from disk. A file counts
 * when it was acknowledged (it reached its minimum at some point), or when
 * its origin is alive at the end (it never lost its source, so nothing
 * excuses it: a cluster that never replicates fails here). Files written on a
 * node that died before any copy existed are reported, not counted. Files a
 * partition that never heals keeps from their minimum are reported as at
 * risk and need a copy on every live node they can still reach
 * (`copiesRequired`). `components` are the groups of live nodes that can
 * reach each other at the end (default: all live nodes, one group).
 *
 * A sink copy counts only when the harness verified it (`sinkCopies`, from
 * checkSinkCopies: size, stored checksum and a re-hash of the object's
 * bytes), and as one copy at most however many sinks hold it: a file whose
 * only copy is an object in a sink is kept (with minCopies 1) if that object
 * verified; an altered or missing object counts for nothing.
 */
export function noDataLost(
  ledger: Ledger,
  disk: Map<string, DiskFile[]>,
  live: Set<string>,
  views: Map<string, { verifiedCopies: number; minCopies: number }[]>,
  components: readonly (readonly string[])[] = [[...live]],
  sinkCopies?: ReadonlyMap<string, readonly SinkCopyCheck[]>,
): { result: InvariantResult; breaches: Breach[] } {
  const onDisk = new Map<string, string[]>()
  for (const [node, files] of disk) {
    if (!live.has(node)) continue
    for (const f of files) {
      const l = onDisk.get(f.sha256) ?? []
      if (!l.includes(node)) l.push(node)
      onDisk.set(f.sha256, l)
    }
  }
  const lost: Record<string, unknown>[] = []
  const breaches: Breach[] = []
  let counted = 0
  const notCounted: string[] = []
  const atRisk: Record<string, unknown>[] = []
  const sinkCounted: Record<string, unknown>[] = []
  let sinkUnverified = 0
  for (const f of ledger.all()) {
    const counts = f.ackedAtMs != null || live.has(f.origin)
    if (!counts) {
      notCounted.push(f.path)
      continue
    }
    counted++
    const holders = (onDisk.get(f.sha256) ?? []).sort()
    const need = copiesRequired(f, holders, components)
    if (need.atRisk) atRisk.push({ path: f.path, origin: f.origin, minCopies: f.minCopies, reachable: need.reach, liveCopiesOnDisk: holders.length })
    if (holders.length >= need.required) continue
    const sinks = sinkCopies?.get(f.sha256) ?? []
    const verified = sinks.filter((c) => c.ok).map((c) => c.sink)
    const unverified = sinks.filter((c) => !c.ok && c.reason != null && !c.reason.includes('holds no blob'))
    sinkUnverified += unverified.length
    if (verified.length > 0 && holders.length + 1 >= need.required) {
      sinkCounted.push({ path: f.path, sha256: f.sha256, liveCopiesOnDisk: holders.length, sinks: verified })
      continue
    }
    lost.push({ path: f.path, sha256: f.sha256, origin: f.origin, minCopies: f.minCopies, required: need.required, liveCopiesOnDisk: holders.length, holders, acked: f.ackedAtMs != null, verifiedSinks: verified, unverifiedSinks: unverified })
    const cut = need.atRisk ? ` (a partition that never heals leaves it only ${need.reach.join(', ')}; minimum ${f.minCopies})` : ''
    const inSinks = verified.length > 0 ? `, plus a verified copy in sink ${verified.join(', ')} (counted once)` : ''
    const bad = unverified.length > 0 ? `; not counted: ${unverified.map((c) => c.reason).join('; ')}` : ''
    breaches.push({
      invariant: 'noDataLost',
      message: `${f.path} (sha256 ${f.sha256.slice(0, 12)}, from ${f.origin}) has ${holders.length} verified live cop${holders.length === 1 ? 'y' : 'ies'}${holders.length > 0 ? ` (${holders.join(', ')})` : ''}${inSinks}, needs ${need.required}${cut}${bad}`,
    })
  }
  let viewsBelowMin = 0
  for (const list of views.values()) for (const v of list) if (v.verifiedCopies < v.minCopies) viewsBelowMin++
  return {
    result: {
      ok: lost.length === 0,
      detail: { filesWritten: ledger.all().length, filesCounted: counted, filesLost: lost.length, lost: lost.slice(0, 50), notCounted: notCounted.slice(0, 50), notCountedCount: notCounted.length, atRisk: atRisk.slice(0, 50), atRiskCount: atRisk.length, nodeViewsBelowMin: viewsBelowMin,
        ...(sinkCopies != null ? { sinkCopiesCounted: sinkCounted.length, sinkCounted: sinkCounted.slice(0, 50), sinkCopiesUnverified: sinkUnverified, sinkCopiesChecked: [...sinkCopies.values()].reduce((a, l) => a + l.length, 0) } : {}) },
    },
    breaches,
  }
}

/**
 * nothingCorruptVisible: no file under its final name in any data dir (live
 * or dead node) holds bytes other than what was written under that name,
 * re-hashed from disk. Checked on every scan during the run and at the end.
 */
export function corruptVisible(ledger: Ledger, disk: Map<string, DiskFile[]>): { path: string; node: string; sha256: string; expected?: string }[] {
  const bad: { path: string; node: string; sha256: string; expected?: string }[] = []
  for (const [node, files] of disk) {
    for (const f of files) {
      if (ledger.expected(f.path, f.sha256)) continue
      bad.push({ path: f.path, node, sha256: f.sha256, expected: ledger.byPath.get(f.path)?.sha256 })
    }
  }
  return bad
}

export function nothingCorruptVisible(found: Map<string, { path: string; node: string; sha256: string; expected?: string; atMs: number }>, scans: number, filesChecked: number): { result: InvariantResult; breaches: Breach[] } {
  const list = [...found.values()]
  return {
    result: { ok: list.length === 0, detail: { scans, filesChecked, corrupt: list.slice(0, 50) } },
    breaches: list.slice(0, 20).map((c) => ({
      invariant: 'nothingCorruptVisible' as const,
      message: `${c.path} on ${c.node} hashes to ${c.sha256.slice(0, 12)}${c.expected != null ? `, its manifest says ${c.expected.slice(0, 12)}` : ' (no file of that name and content was written)'} (seen at ${(c.atMs / 1000).toFixed(1)} s)`,
    })),
  }
}

export function convergence(quietAtMs: number, convergedAtMs: number | undefined, boundMs: number, last: string[]): { result: InvariantResult; breaches: Breach[] } {
  const took = convergedAtMs != null ? Math.max(0, convergedAtMs - quietAtMs) : undefined
  const ok = took != null && took <= boundMs
  return {
    result: { ok, detail: { quietAtMs, convergedAtMs: convergedAtMs ?? null, tookMs: took ?? null, boundMs, disagreements: ok ? [] : last.slice(0, 30) } },
    breaches: ok
      ? []
      : [
          {
            invariant: 'convergence',
            message:
              took == null
                ? `live nodes never agreed on the cluster manifest within the settle time: ${last.slice(0, 3).join('; ')}`
                : `live nodes agreed ${(took / 1000).toFixed(1)} s after the last fault, bound ${(boundMs / 1000).toFixed(0)} s`,
          },
        ],
  }
}

/**
 * noStorm: bytes moved (received, or sent where more) at most `factor` times
 * the bytes that had to move: the size of every file for every node that
 * came to hold it other than its origin.
 */
export function noStorm(moved: { bytesIn: number; bytesOut: number; perNode: Record<string, number> }, needed: number, factor: number): { result: InvariantResult; breaches: Breach[] } {
  const bytes = Math.max(moved.bytesIn, moved.bytesOut)
  const ratio = needed > 0 ? bytes / needed : bytes > 0 ? Number.POSITIVE_INFINITY : 1
  const ok = needed > 0 ? ratio <= factor : bytes < 1024 * 1024
  const top = Object.entries(moved.perNode)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
  return {
    result: { ok, detail: { bytesMoved: bytes, bytesReceived: moved.bytesIn, bytesSent: moved.bytesOut, bytesNeeded: needed, factor: Number.isFinite(ratio) ? Math.round(ratio * 100) / 100 : null, allowed: factor } },
    breaches: ok ? [] : [{ invariant: 'noStorm', message: `${bytes} bytes moved for ${needed} that had to (${Number.isFinite(ratio) ? ratio.toFixed(2) : 'inf'}x, allowed ${factor}x); most received: ${top.map(([n, b]) => `${n} ${b}`).join(', ')}` }],
  }
}
