import picomatch from 'picomatch'
import type { ManifestEntry } from '../../protocols/manifest/index.js'
import type { PeerRecord } from '../cluster/view.js'
import { policyFor } from '../config/policies.js'
import type { MeshsyncNode } from '../node.js'
import { copiesCount } from '../replication/grace.js'
import { BUILD_VERSION, COMMIT, VERSION, versionSummary } from './version.js'

export interface FileJson {
  sha256: string
  path: string
  size: number
  kind: string
  origin: string
  version: number
  /** Peer IDs whose manifest lists this content (this node included). */
  holders: string[]
  /** Node names of the holders, same order. */
  holderNames: string[]
  local: boolean
  infoHash?: string
  promoted: boolean
  policy: string
  minCopies: number
  /** Holders that count as copies: live, or down for less than the grace period. */
  verifiedCopies: number
  /**
   * Present when the file has fewer copies that count than its minimum; with
   * `flakyHolder` when this node is fetching it and its only usable holder
   * is flaky (sent bad chunks, or its circuit breaker is open).
   */
  atRisk?: AtRiskJson
}

export interface AtRiskJson {
  copies: number
  minCopies: number
  /** Peer ID of the only usable holder, which is flaky; and its name. */
  flakyHolder?: string
  flakyHolderName?: string
  reason?: string
  sinceMs?: number
}

export interface PeerJson {
  peerId: string
  name?: string
  state: string
  stateSinceMs: number
  lastSeenMs?: number
  health?: unknown
  files: number
  manifestSeq: number
}

/**
 * A `--where` glob: matched against the whole path, and a glob without a slash
 * ('*.db') also against the base name, so it finds games/x.db as an operator
 * expects (picomatch's own `basename` option breaks globs that have a slash).
 */
export function pathGlob(glob: string): (path: string) => boolean {
  const whole = picomatch(glob, { dot: true })
  if (glob.includes('/')) return whole
  return (path) => whole(path) || whole(path.slice(path.lastIndexOf('/') + 1))
}

/** JSON views of the node's state for the API (field names documented in the README). */
export class ReadModels {
  readonly #node: MeshsyncNode

  constructor(node: MeshsyncNode) {
    this.#node = node
  }

  /** Whether a peer's copies still count: up, suspect, or down for less than its grace period. */
  counts(p: PeerRecord, now: number): boolean {
    return copiesCount(p, now, this.#node.config.replication)
  }

  peers(): PeerJson[] {
    return this.#node.view
      .peers()
      .filter((p) => p.peerId !== this.#node.peerId)
      .map((p) => ({
        peerId: p.peerId,
        name: p.name,
        state: p.state,
        stateSinceMs: p.stateSinceMs,
        lastSeenMs: p.lastSeenMs,
        health: p.health,
        files: p.entries.size,
        manifestSeq: p.manifestSeq,
      }))
      .sort((a, b) => (a.name ?? a.peerId).localeCompare(b.name ?? b.peerId))
  }

  files(opts: { where?: string } = {}): FileJson[] {
    const node = this.#node
    const now = node.clock.now()
    const match = opts.where != null && opts.where !== '' ? pathGlob(opts.where) : undefined
    const out = new Map<string, FileJson>()
    const add = (e: ManifestEntry, holder: string, holderName: string, counts: boolean, local: boolean): void => {
      let f = out.get(e.sha256)
      if (f == null) {
        const policy = policyFor(node.config.resolvedPolicies, e.path, e.kind)
        f = {
          sha256: e.sha256,
          path: e.path,
          size: e.size,
          kind: e.kind,
          origin: e.origin,
          version: e.version,
          holders: [],
          holderNames: [],
          local: false,
          infoHash: e.infoHash,
          promoted: e.promoted,
          policy: policy.name,
          minCopies: policy.minCopies,
          verifiedCopies: 0,
        }
        out.set(e.sha256, f)
      }
      if (f.holders.includes(holder)) return
      f.holders.push(holder)
      f.holderNames.push(holderName)
      if (counts) f.verifiedCopies++
      if (local) f.local = true
      if (e.origin === holder) f.path = e.path
      f.promoted ||= e.promoted
      f.infoHash ??= e.infoHash
    }
    for (const f of node.manifest.all()) add(f, node.peerId, node.config.node.name, true, true)
    for (const p of node.view.peers()) {
      const counts = this.counts(p, now)
      for (const e of p.entries.values()) add(e, p.peerId, p.name ?? p.peerId, counts, false)
    }
    // verified sink copies count as copies too (src/sinks): holders show them as sink:<name>
    for (const f of out.values()) {
      for (const name of node.sinks?.copies(f.sha256, f.size) ?? []) {
        f.holders.push(`sink:${name}`)
        f.holderNames.push(`sink:${name}`)
        f.verifiedCopies++
      }
    }
    const files = [...out.values()]
    for (const f of files) {
      const flaky = node.transfers.atRisk.get(f.sha256)
      if (f.verifiedCopies >= f.minCopies && flaky == null) continue
      f.atRisk = { copies: f.verifiedCopies, minCopies: f.minCopies }
      if (flaky != null) Object.assign(f.atRisk, { flakyHolder: flaky.peer, flakyHolderName: node.view.get(flaky.peer)?.name, reason: flaky.reason, sinceMs: flaky.sinceMs })
    }
    return (match != null ? files.filter((f) => match(f.path)) : files).sort((a, b) => a.path.localeCompare(b.path))
  }

  /** Replication health as this node sees the cluster (planner's last tick, cleanup, evacuation). */
  replication(): Record<string, unknown> {
    const node = this.#node
    const s = node.planner.stats
    return {
      files: s.files,
      filesUnderMin: s.filesUnderMin,
      bytesAtRisk: s.bytesAtRisk,
      syncLagMs: s.syncLagMs,
      pulling: s.pulling,
      repairsStarted: s.repairsStarted,
      repairsDeferred: s.repairsDeferred,
      deleted: node.cleanup.stats.deleted,
      bytesFreed: node.cleanup.stats.bytesFreed,
      cleanupRefused: node.cleanup.stats.refused,
      sinks: node.sinks?.status() ?? [],
      evacuating: node.evacuating,
      lastTickMs: s.lastTickMs,
      /** Files this node is fetching from a sole holder that is flaky (the file_at_risk event). */
      atRisk: node.transfers.atRisk.list().map((f) => ({ ...f, peerName: node.view.get(f.peer)?.name })),
    }
  }

  /** Every node this one knows (itself first): state, role and disk, from health gossip. */
  nodes(): Record<string, unknown>[] {
    const node = this.#node
    const d = node.disk.last
    const self = {
      peerId: node.peerId,
      name: node.config.node.name,
      role: node.config.node.role,
      state: 'up',
      self: true,
      files: node.manifest.count,
      disk: { total: d.total, free: d.free, usedFraction: d.usedFraction, level: node.diskLevel },
      accepting: !node.evacuating && node.diskLevel !== 'full',
      evacuating: node.evacuating,
      version: BUILD_VERSION,
    }
    const others = node.view
      .peers()
      .filter((p) => p.peerId !== node.peerId && p.health != null)
      .map((p) => ({
        peerId: p.peerId,
        name: p.name,
        role: p.health!.role,
        state: p.state,
        self: false,
        files: p.entries.size,
        disk: p.health!.disk,
        accepting: p.health!.accepting,
        evacuating: p.health!.evacuating,
        version: p.health!.version,
      }))
      .sort((a, b) => (a.name ?? '').localeCompare(b.name ?? ''))
    return [self, ...others]
  }

  status(): Record<string, unknown> {
    const node = this.#node
    const cfg = node.config
    const peers = node.view.peers()
    const count = (s: string) => peers.filter((p) => p.state === s).length
    let bytes = 0
    for (const f of node.manifest.all()) bytes += f.size
    const d = node.disk.last
    const nodes = this.nodes()
    return {
      peerId: node.peerId,
      name: cfg.node.name,
      role: cfg.node.role,
      provider: cfg.node.provider,
      tags: cfg.node.tags,
      ephemeral: cfg.node.ephemeral,
      version: VERSION,
      commit: COMMIT,
      build: BUILD_VERSION,
      uptimeMs: node.clock.now() - node.startedMs,
      addresses: node.addresses,
      api: node.apiAddress,
      dataDir: node.layout.dataDir,
      peers: { up: count('up'), suspect: count('suspect'), down: count('down'), connected: node.mesh.getPeers().length },
      manifest: { seq: node.manifest.seq, digest: node.manifest.digest, files: node.manifest.count, bytes, pending: node.scanner.pending },
      disk: { total: d.total, free: d.free, usedFraction: d.usedFraction, level: node.diskLevel },
      gossip: node.gossip.stats,
      /** TCP port of the BitTorrent client; null when BitTorrent is off on this node. */
      bittorrentPort: node.bittorrent?.port ?? null,
      replication: this.replication(),
      merges: node.merges.status(),
      nodes,
      /** Builds (health `version`) of the nodes not down, this one included; `mixed` while an upgrade is half done. */
      versions: versionSummary(nodes.filter((n) => n.state !== 'down').map((n) => String(n.version))),
    }
  }
}
