import type { Statement } from 'better-sqlite3'
import type { HealthReport } from '../../protocols/health/index.js'
import { entryDigest, xorInto, type ManifestDelta, type ManifestEntry } from '../../protocols/manifest/index.js'
import type { Db } from '../state/db.js'
import type { EventLog } from '../state/event-log.js'
import type { Clock } from '../util/clock.js'

export type PeerState = 'up' | 'suspect' | 'down'

/** A peer's health is written to SQLite at least this often while it changes nothing placement reads. */
const HEALTH_SAVE_MS = 15_000

export interface PeerRecord {
  peerId: string
  name?: string
  health?: HealthReport
  healthSeq: number
  lastSeenMs?: number
  state: PeerState
  stateSinceMs: number
  firstSeenMs: number
  /** The seq of this peer's manifest our copy is at. */
  manifestSeq: number
  /** Our copy of its manifest, by path. */
  entries: Map<string, ManifestEntry>
  digest: Buffer
  /** How many of its paths hold each content. */
  shaCount: Map<string, number>
}

export type DeltaResult = 'applied' | 'stale' | 'gap'

export interface LivenessTimes {
  suspectAfterMs: number
  downAfterMs: number
}

/**
 * What this node knows of every other node: its health, liveness and
 * manifest. Kept in memory for the planner and the API, written through to
 * SQLite so a restart starts from the last known picture (every peer is
 * treated as unseen until its health arrives again).
 */
export class ClusterView {
  readonly #peers = new Map<string, PeerRecord>()
  readonly #bySha = new Map<string, Set<string>>()
  readonly #db: Db
  readonly #clock: Clock
  readonly #events: EventLog
  readonly #self: string
  readonly #entryListeners = new Set<(peerId: string, e: ManifestEntry) => void>()
  readonly #healthListeners = new Set<(p: PeerRecord) => void>()
  readonly #savedMs = new Map<string, number>()
  readonly #stmts: {
    upsertPeer: Statement
    upsertFile: Statement
    deleteFile: Statement
    deleteFiles: Statement
    setSeq: Statement
    setState: Statement
  }

  constructor(db: Db, clock: Clock, events: EventLog, selfPeerId: string) {
    this.#db = db
    this.#clock = clock
    this.#events = events
    this.#self = selfPeerId
    this.#stmts = {
      upsertPeer: db.prepare(`
        INSERT INTO peers (peer_id, name, health, health_seq, last_seen_ms, state, state_since_ms, manifest_seq, first_seen_ms)
        VALUES (@peer_id, @name, @health, @health_seq, @last_seen_ms, @state, @state_since_ms, @manifest_seq, @first_seen_ms)
        ON CONFLICT(peer_id) DO UPDATE SET name = excluded.name, health = excluded.health, health_seq = excluded.health_seq,
          last_seen_ms = excluded.last_seen_ms, state = excluded.state, state_since_ms = excluded.state_since_ms`),
      upsertFile: db.prepare(`
        INSERT INTO peer_files (peer_id, path, sha256, size, kind, origin, version, mtime_ms, chunk_root, info_hash, promoted)
        VALUES (@peer_id, @path, @sha256, @size, @kind, @origin, @version, @mtime_ms, @chunk_root, @info_hash, @promoted)
        ON CONFLICT(peer_id, path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, kind = excluded.kind, origin = excluded.origin,
          version = excluded.version, mtime_ms = excluded.mtime_ms, chunk_root = excluded.chunk_root, info_hash = excluded.info_hash, promoted = excluded.promoted`),
      deleteFile: db.prepare(`DELETE FROM peer_files WHERE peer_id = ? AND path = ?`),
      deleteFiles: db.prepare(`DELETE FROM peer_files WHERE peer_id = ?`),
      setSeq: db.prepare(`UPDATE peers SET manifest_seq = ? WHERE peer_id = ?`),
      setState: db.prepare(`UPDATE peers SET state = ?, state_since_ms = ? WHERE peer_id = ?`),
    }
    this.#load()
  }

  #load(): void {
    const now = this.#clock.now()
    for (const r of this.#db.prepare(`SELECT * FROM peers`).all() as {
      peer_id: string
      name: string | null
      health: string | null
      health_seq: number
      last_seen_ms: number | null
      state: PeerState
      state_since_ms: number
      manifest_seq: number
      first_seen_ms: number
    }[]) {
      // after a restart nobody has been heard from yet: a peer is down until its health arrives,
      // but keeps its last-seen time so grace periods run from when it was last seen
      const state: PeerState = 'down'
      this.#peers.set(r.peer_id, {
        peerId: r.peer_id,
        name: r.name ?? undefined,
        health: r.health != null ? (JSON.parse(r.health) as HealthReport) : undefined,
        healthSeq: r.health_seq,
        lastSeenMs: r.last_seen_ms ?? undefined,
        state,
        stateSinceMs: r.state === 'down' ? r.state_since_ms : now,
        firstSeenMs: r.first_seen_ms,
        manifestSeq: r.manifest_seq,
        entries: new Map(),
        digest: Buffer.alloc(32),
        shaCount: new Map(),
      })
    }
    for (const r of this.#db.prepare(`SELECT * FROM peer_files`).all() as {
      peer_id: string
      path: string
      sha256: Buffer
      size: number
      kind: ManifestEntry['kind']
      origin: string
      version: number
      mtime_ms: number
      chunk_root: Buffer
      info_hash: Buffer | null
      promoted: number
    }[]) {
      const p = this.#peers.get(r.peer_id)
      if (p == null) continue
      this.#indexEntry(p, {
        path: r.path,
        sha256: r.sha256.toString('hex'),
        size: r.size,
        kind: r.kind,
        origin: r.origin,
        version: r.version,
        mtimeMs: r.mtime_ms,
        chunkRoot: r.chunk_root.toString('hex'),
        infoHash: r.info_hash?.toString('hex'),
        promoted: r.promoted === 1,
      })
    }
  }

  get self(): string {
    return this.#self
  }

  /** Observers of every entry added or changed in a peer's manifest (benchmarks, simulation). */
  onEntry(fn: (peerId: string, e: ManifestEntry) => void): () => void {
    this.#entryListeners.add(fn)
    return () => this.#entryListeners.delete(fn)
  }

  /**
   * Observers of a change in what placement reads from a peer's health: it
   * came up, or its disk level, backpressure or evacuation changed.
   */
  onHealthChange(fn: (p: PeerRecord) => void): () => void {
    this.#healthListeners.add(fn)
    return () => this.#healthListeners.delete(fn)
  }

  peers(): PeerRecord[] {
    return [...this.#peers.values()]
  }

  get(peerId: string): PeerRecord | undefined {
    return this.#peers.get(peerId)
  }

  /** Peers (not this node) whose manifest lists this content. */
  holders(sha256: string): string[] {
    return [...(this.#bySha.get(sha256) ?? [])]
  }

  /** Every content hash some peer holds. */
  shas(): IterableIterator<string> {
    return this.#bySha.keys()
  }

  /** One entry for this content from some holder (for its size, kind, origin). */
  entryFor(sha256: string): ManifestEntry | undefined {
    for (const peerId of this.#bySha.get(sha256) ?? []) {
      const p = this.#peers.get(peerId)
      if (p == null) continue
      for (const e of p.entries.values()) if (e.sha256 === sha256) return e
    }
    return undefined
  }

  #ensure(peerId: string, now: number): PeerRecord {
    let p = this.#peers.get(peerId)
    if (p == null) {
      p = { peerId, healthSeq: 0, state: 'down', stateSinceMs: now, firstSeenMs: now, manifestSeq: 0, entries: new Map(), digest: Buffer.alloc(32), shaCount: new Map() }
      this.#peers.set(peerId, p)
      this.#savePeer(p)
    }
    return p
  }

  /** A health report from `peerId` (already validated). Returns false if stale or replayed. */
  applyHealth(peerId: string, h: HealthReport): boolean {
    if (peerId === this.#self) return false
    const now = this.#clock.now()
    const isNew = !this.#peers.has(peerId)
    const p = this.#ensure(peerId, now)
    if (h.seq <= p.healthSeq) return false
    const neverSeen = p.lastSeenMs == null
    const prev = p.health
    const wasUp = p.state === 'up'
    p.health = h
    p.healthSeq = h.seq
    p.name = h.name
    p.lastSeenMs = now
    if (p.state !== 'up') {
      const downForMs = now - p.stateSinceMs
      p.state = 'up'
      p.stateSinceMs = now
      if (isNew || neverSeen) this.#events.emit('peer_joined', { peer: peerId, name: h.name, role: h.role })
      else this.#events.emit('node_recovered', { peer: peerId, name: h.name, downForMs })
    }
    const changed = !wasUp || prev == null || prev.evacuating !== h.evacuating || prev.disk.level !== h.disk.level || prev.accepting !== h.accepting
    // written through when something placement reads changed, else at most every HEALTH_SAVE_MS per peer:
    // a health message arrives from every peer every few seconds, and a restart only needs a recent picture
    if (changed || now - (this.#savedMs.get(peerId) ?? 0) >= HEALTH_SAVE_MS) {
      this.#savePeer(p)
      this.#savedMs.set(peerId, now)
    }
    if (changed) for (const fn of this.#healthListeners) fn(p)
    return true
  }

  /** True when our copy of the peer's manifest differs from what its health says. */
  needsSync(peerId: string): boolean {
    const p = this.#peers.get(peerId)
    if (p?.health == null) return false
    const m = p.health.manifest
    return m.seq !== p.manifestSeq || m.digest !== this.digestOf(p) || m.count !== p.entries.size
  }

  digestOf(p: PeerRecord): string {
    return p.entries.size === 0 ? '0'.repeat(64) : p.digest.toString('hex')
  }

  applyDelta(peerId: string, d: ManifestDelta): DeltaResult {
    if (peerId === this.#self) return 'stale'
    const now = this.#clock.now()
    const p = this.#ensure(peerId, now)
    if (d.seq <= p.manifestSeq) return 'stale'
    if (d.prevSeq !== p.manifestSeq) return 'gap'
    this.#db.transaction(() => {
      for (const e of d.upserts) this.#put(p, e)
      for (const path of d.removed) this.#drop(p, path)
      p.manifestSeq = d.seq
      this.#stmts.setSeq.run(d.seq, peerId)
    })()
    return 'applied'
  }

  /** Replaces our copy of a peer's manifest with one pulled whole (anti-entropy). */
  replaceManifest(peerId: string, seq: number, entries: ManifestEntry[]): void {
    const p = this.#ensure(peerId, this.#clock.now())
    this.#db.transaction(() => {
      for (const e of [...p.entries.values()]) this.#unindexEntry(p, e)
      this.#stmts.deleteFiles.run(peerId)
      for (const e of entries) this.#put(p, e)
      p.manifestSeq = seq
      this.#stmts.setSeq.run(seq, peerId)
    })()
  }

  /**
   * Moves peers to suspect and down as their health stops arriving. Returns
   * the peers whose state changed.
   */
  tickLiveness(t: LivenessTimes): PeerRecord[] {
    const now = this.#clock.now()
    const changed: PeerRecord[] = []
    for (const p of this.#peers.values()) {
      if (p.lastSeenMs == null) continue
      const silent = now - p.lastSeenMs
      const next: PeerState = silent >= t.downAfterMs ? 'down' : silent >= t.suspectAfterMs ? 'suspect' : 'up'
      if (next === p.state || (p.state === 'down' && next !== 'up')) continue
      if (next === 'up') continue // only a health message brings a peer up
      p.state = next
      p.stateSinceMs = now
      this.#stmts.setState.run(next, now, p.peerId)
      this.#events.emit(next === 'down' ? 'peer_down' : 'peer_suspect', { peer: p.peerId, name: p.name, silentMs: silent })
      changed.push(p)
    }
    return changed
  }

  #put(p: PeerRecord, e: ManifestEntry): void {
    const old = p.entries.get(e.path)
    if (old != null) this.#unindexEntry(p, old)
    this.#indexEntry(p, e)
    for (const fn of this.#entryListeners) fn(p.peerId, e)
    this.#stmts.upsertFile.run({
      peer_id: p.peerId,
      path: e.path,
      sha256: Buffer.from(e.sha256, 'hex'),
      size: e.size,
      kind: e.kind,
      origin: e.origin,
      version: e.version,
      mtime_ms: e.mtimeMs,
      chunk_root: Buffer.from(e.chunkRoot, 'hex'),
      info_hash: e.infoHash != null ? Buffer.from(e.infoHash, 'hex') : null,
      promoted: e.promoted ? 1 : 0,
    })
  }

  #drop(p: PeerRecord, path: string): void {
    const old = p.entries.get(path)
    if (old == null) return
    this.#unindexEntry(p, old)
    this.#stmts.deleteFile.run(p.peerId, path)
  }

  #indexEntry(p: PeerRecord, e: ManifestEntry): void {
    p.entries.set(e.path, e)
    xorInto(p.digest, entryDigest(e))
    p.shaCount.set(e.sha256, (p.shaCount.get(e.sha256) ?? 0) + 1)
    let s = this.#bySha.get(e.sha256)
    if (s == null) {
      s = new Set()
      this.#bySha.set(e.sha256, s)
    }
    s.add(p.peerId)
  }

  #unindexEntry(p: PeerRecord, e: ManifestEntry): void {
    p.entries.delete(e.path)
    xorInto(p.digest, entryDigest(e))
    // the peer may hold the same content under another path
    const left = (p.shaCount.get(e.sha256) ?? 1) - 1
    if (left > 0) {
      p.shaCount.set(e.sha256, left)
      return
    }
    p.shaCount.delete(e.sha256)
    const s = this.#bySha.get(e.sha256)
    if (s == null) return
    s.delete(p.peerId)
    if (s.size === 0) this.#bySha.delete(e.sha256)
  }

  #savePeer(p: PeerRecord): void {
    this.#stmts.upsertPeer.run({
      peer_id: p.peerId,
      name: p.name ?? null,
      health: p.health != null ? JSON.stringify(p.health) : null,
      health_seq: p.healthSeq,
      last_seen_ms: p.lastSeenMs ?? null,
      state: p.state,
      state_since_ms: p.stateSinceMs,
      manifest_seq: p.manifestSeq,
      first_seen_ms: p.firstSeenMs,
    })
  }
}
