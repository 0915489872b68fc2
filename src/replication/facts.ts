import type { ManifestEntry } from '../../protocols/manifest/index.js'
import type { DiskLevel } from '../../protocols/health/index.js'
import type { LocalManifest } from '../catalog/local-manifest.js'
import type { ClusterView } from '../cluster/view.js'
import { copiesCount, type GraceConfig } from './grace.js'
import type { FileFacts, NodeFacts } from './placement.js'

/** What this node says about itself (the same facts its health gossip carries). */
export interface SelfFacts {
  peerId: string
  name: string
  role: string
  tags: string[]
  ephemeral: boolean
  diskFree: number
  diskLevel: DiskLevel
  accepting: boolean
  evacuating: boolean
  sinks?: string[]
}

/** The facts placement runs on, for every node this one knows (itself included). */
export function nodeFacts(view: ClusterView, self: SelfFacts, now: number, grace: GraceConfig): Map<string, NodeFacts> {
  const out = new Map<string, NodeFacts>()
  out.set(self.peerId, { ...self, state: 'up', counts: true })
  for (const p of view.peers()) {
    if (p.peerId === self.peerId || p.health == null) continue
    const h = p.health
    out.set(p.peerId, {
      peerId: p.peerId,
      name: h.name,
      role: h.role,
      tags: h.tags,
      ephemeral: h.ephemeral,
      state: p.state,
      counts: copiesCount(p, now, grace),
      diskFree: h.disk.free,
      diskLevel: h.disk.level,
      accepting: h.accepting,
      evacuating: h.evacuating,
      sinks: h.sinks ?? [],
    })
  }
  return out
}

/** One content hash as the cluster knows it. */
export interface KnownFile {
  facts: FileFacts
  /** An entry to fetch it by (the origin's, when known). */
  entry: ManifestEntry
}

/**
 * Every content hash known here (held locally or announced by a peer), with
 * its holders. The path and origin are the origin's own when it still
 * announces the file.
 */
export function knownFiles(view: ClusterView, manifest: LocalManifest, self: string): Map<string, KnownFile> {
  const out = new Map<string, KnownFile>()
  const add = (holder: string, e: ManifestEntry): void => {
    let k = out.get(e.sha256)
    if (k == null) {
      k = { entry: e, facts: { sha256: e.sha256, path: e.path, size: e.size, origin: e.origin, promoted: e.promoted, holders: [] } }
      out.set(e.sha256, k)
    }
    if (!k.facts.holders.includes(holder)) k.facts.holders.push(holder)
    if (e.promoted) k.facts.promoted = true
    if (holder === e.origin && k.entry.origin !== holder) {
      k.entry = e
      k.facts.path = e.path
    }
  }
  for (const f of manifest.all()) add(self, f)
  for (const p of view.peers()) {
    if (p.peerId === self) continue
    for (const e of p.entries.values()) add(p.peerId, e)
  }
  return out
}
