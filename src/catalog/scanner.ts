import type { Dir, Stats } from 'node:fs'
import { lstat, open, opendir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import picomatch from 'picomatch'
import type { ManifestEntry } from '../../protocols/manifest/index.js'
import type { Kind } from '../config/schema.js'
import type { Clock } from '../util/clock.js'
import { errorMessage } from '../util/errors.js'
import type { Logger } from '../util/log.js'
import { digestFile, type FileDigest } from './hasher.js'
import type { LocalFile, LocalManifest } from './local-manifest.js'
import { isWalMode, snapshotSqlite } from './sqlite-snapshot.js'
import { detectKind } from '../validate/index.js'
import type { Verdict } from '../validate/types.js'

export interface ScannerInit {
  dataDir: string
  /** meshsync's own folder inside the data dir (never scanned). */
  stateDirName: string
  /** Folder (absolute) for consistent snapshots of live SQLite databases. */
  snapshotDir: string
  manifest: LocalManifest
  clock: Clock
  log: Logger
  exclude: string[]
  stableMs: number
  sqliteMaxUnstableMs: number
  /** Kind validation of a local file before it is announced; undefined = announce without checking. */
  validate?: (path: string, kind: Kind, sha256: string, signal: AbortSignal) => Promise<Verdict>
  /** A local file failed validation; `abs` is the file to quarantine (the snapshot, for a live database). */
  onInvalid?: (rel: string, abs: string, kind: Kind, digest: FileDigest, reason: string) => Promise<void>
  /** Files that get a BitTorrent torrent: undefined when BitTorrent is off. */
  torrent?: {
    /** The piece length of a file of this size's torrent, undefined for none; its SHA-1 pieces come from the catalog's one read. */
    pieceLength(size: number): number | undefined
    /** The infoHash of a file about to be announced (undefined: no torrent for it). */
    infoHash(path: string, digest: FileDigest, signal: AbortSignal): Promise<string | undefined>
  }
  /**
   * The entry of a replica this node is fetching to `rel` with these bytes, if any: an uncataloged file that
   * matches one is that replica (its landing's rename survived a crash that its catalog commit did not) and is
   * cataloged as its producer's, not announced as a new local file.
   */
  replicaOf?: (rel: string, sha256: string) => ManifestEntry | undefined
  /** Called when a scan finishes, with the counts (progress for observers). */
  onScanned?: (stats: ScanStats) => void
}

export interface ScanStats {
  files: number
  hashed: number
  bytesHashed: number
  pending: number
  removed: number
  durationMs: number
}

interface Seen {
  size: number
  mtimeMs: number
  ino: number
  /** Size and mtime of a -wal beside a SQLite db, which count as part of it. */
  walSig: string
  /** When the signature last changed. */
  changedMs: number
  firstSeenMs: number
}

/**
 * Keeps the local manifest in step with the data dir. Each scan walks the
 * tree with lstat only; a file is hashed when its size, mtime or inode differ
 * from the catalog and have not changed for `stableMs` (so files still being
 * written are not announced). Restarts cost no rehash: the catalog keeps the
 * hash with the stat it was taken at. Symlinks are never followed.
 */
export class Scanner {
  readonly #init: ScannerInit
  readonly #excluded: (path: string) => boolean
  readonly #seen = new Map<string, Seen>()
  /** Files that failed (hash or validation) with the signature they failed at; retried when it changes. */
  readonly #failed = new Map<string, string>()
  /** Signature at which a live SQLite db (with a -wal beside it) was last snapshotted. */
  readonly #announced = new Map<string, string>()
  /** Earliest time a pending file may become stable (the loop pokes itself then). */
  nextStableAt: number | undefined
  /** Figures of the last finished scan. */
  lastStats: ScanStats | undefined
  /** Scans finished since start. */
  scans = 0

  constructor(init: ScannerInit) {
    this.#init = init
    this.#excluded = picomatch(init.exclude, { dot: true })
  }

  /** Paths seen but not (yet) announced. */
  get pending(): number {
    return [...this.#seen.keys()].filter((p) => this.#init.manifest.get(p) == null && !this.#failed.has(p)).length
  }

  async scan(signal: AbortSignal): Promise<ScanStats> {
    const started = this.#init.clock.now()
    const stats: ScanStats = { files: 0, hashed: 0, bytesHashed: 0, pending: 0, removed: 0, durationMs: 0 }
    const present = new Set<string>()
    const m = this.#init.manifest
    // the catalog as of the listing's start: an entry committed later (a replica that landed meanwhile) may be in a
    // folder this walk had already listed, so its absence from `present` says nothing
    const startSeq = m.seq
    this.nextStableAt = undefined
    for await (const rel of this.#walk('', signal)) {
      stats.files++
      present.add(rel)
      await this.#consider(rel, stats, signal)
    }
    // announced files that are gone from the disk
    for (const f of [...m.all()]) {
      if (!present.has(f.path) && m.committedSeq(f.path) <= startSeq && !m.isLanding(f.path)) {
        m.remove(f.path)
        stats.removed++
        this.#init.log.info({ path: f.path }, 'file gone from the data dir; removed from the manifest')
      }
    }
    for (const p of [...this.#seen.keys()]) if (!present.has(p)) this.#seen.delete(p)
    for (const p of [...this.#failed.keys()]) if (!present.has(p)) this.#failed.delete(p)
    for (const p of [...this.#announced.keys()]) if (!present.has(p)) this.#announced.delete(p)
    stats.pending = this.pending
    stats.durationMs = this.#init.clock.now() - started
    this.lastStats = stats
    this.scans++
    this.#init.onScanned?.(stats)
    return stats
  }

  async *#walk(relDir: string, signal: AbortSignal): AsyncGenerator<string> {
    const absDir = relDir === '' ? this.#init.dataDir : join(this.#init.dataDir, relDir)
    let dir: Dir
    try {
      dir = await opendir(absDir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    const subdirs: string[] = []
    for await (const d of dir) {
      signal.throwIfAborted()
      const rel = relDir === '' ? d.name : `${relDir}/${d.name}`
      if (relDir === '' && d.name === this.#init.stateDirName) continue
      if (d.isSymbolicLink()) continue
      if (d.isDirectory()) {
        if (!this.#excluded(`${rel}/`) && !d.name.startsWith('.')) subdirs.push(rel)
        continue
      }
      if (!d.isFile()) continue
      if (this.#excluded(rel)) continue
      yield rel
    }
    for (const s of subdirs.sort()) yield* this.#walk(s, signal)
  }

  async #consider(rel: string, stats: ScanStats, signal: AbortSignal): Promise<void> {
    const abs = join(this.#init.dataDir, rel)
    let st: Stats
    try {
      st = await lstat(abs)
    } catch {
      return
    }
    if (!st.isFile()) return
    // a replica being put in place: landing commits it, with its producer's origin
    if (this.#init.manifest.isLanding(rel)) return
    const walSig = await this.#walSignature(abs)
    const now = this.#init.clock.now()
    const known = this.#init.manifest.get(rel)
    if (known != null && known.size === st.size && known.localMtimeMs === st.mtimeMs && known.ino === st.ino && walSig === '') {
      this.#seen.delete(rel)
      return
    }
    const sig = `${st.size}:${st.mtimeMs}:${st.ino}:${walSig}`
    if (this.#failed.get(rel) === sig || (known != null && this.#announced.get(rel) === sig)) return
    this.#failed.delete(rel)
    let seen = this.#seen.get(rel)
    if (seen == null || seen.size !== st.size || seen.mtimeMs !== st.mtimeMs || seen.ino !== st.ino || seen.walSig !== walSig) {
      seen = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, walSig, changedMs: now, firstSeenMs: seen?.firstSeenMs ?? now }
      this.#seen.set(rel, seen)
    }
    const kind = await this.#kind(abs)
    const stableAt = seen.changedMs + this.#init.stableMs
    const forceSqlite = kind === 'sqlite' && now - seen.firstSeenMs >= this.#init.sqliteMaxUnstableMs
    if (now < stableAt && !forceSqlite) {
      this.nextStableAt = Math.min(this.nextStableAt ?? Number.POSITIVE_INFINITY, stableAt)
      return
    }
    try {
      await this.#announce(rel, abs, kind, st.mtimeMs, st.ino, walSig !== '' || (kind === 'sqlite' && (await this.#isWal(abs))), stats, signal)
      this.#seen.delete(rel)
      if (walSig !== '') this.#announced.set(rel, sig)
    } catch (err) {
      if (signal.aborted) throw err
      this.#failed.set(rel, sig)
      this.#init.log.warn({ path: rel, err: errorMessage(err) }, 'could not catalog file; will retry when it changes')
    }
  }

  async #announce(rel: string, abs: string, kind: Kind, mtimeMs: number, ino: number, live: boolean, stats: ScanStats, signal: AbortSignal): Promise<void> {
    const m = this.#init.manifest
    const previous = m.get(rel)
    let digest: FileDigest
    let snapshot: string | undefined
    let servePath = abs
    if (live) {
      // a live SQLite db in WAL mode: never send the file itself, send a consistent snapshot
      const name = `${Buffer.from(rel).toString('base64url').slice(0, 80)}.${this.#init.clock.now()}.db`
      const snapAbs = join(this.#init.snapshotDir, name)
      await snapshotSqlite(abs, snapAbs, { signal })
      digest = await digestFile(snapAbs, { signal, sha1PieceLength: this.#init.torrent?.pieceLength })
      if (previous?.snapshot != null && previous.sha256 === digest.sha256) {
        // same content as announced: keep the old snapshot, note the new stat
        await rm(snapAbs, { force: true })
        if (!this.#changedMeanwhile(rel, previous)) m.touch(rel, ino, mtimeMs)
        return
      }
      snapshot = name
      servePath = snapAbs
    } else {
      digest = await digestFile(abs, { signal, sha1PieceLength: this.#init.torrent?.pieceLength })
    }
    stats.hashed++
    stats.bytesHashed += digest.size
    if (previous != null && previous.sha256 === digest.sha256 && snapshot == null) {
      if (!this.#changedMeanwhile(rel, previous)) m.touch(rel, ino, mtimeMs)
      return
    }
    if (this.#init.validate != null) {
      const verdict = await this.#init.validate(servePath, kind, digest.sha256, signal)
      if (!verdict.ok) {
        if (this.#changedMeanwhile(rel, previous)) {
          if (snapshot != null) await rm(servePath, { force: true })
          return
        }
        // a live database stays where its writer has it open: its bad snapshot is what gets quarantined
        await this.#init.onInvalid?.(rel, servePath, kind, digest, verdict.reason)
        if (snapshot != null) await rm(servePath, { force: true })
        if (previous != null) m.remove(rel)
        throw new Error(`invalid ${kind}: ${verdict.reason}`)
      }
    }
    const replica = previous == null && snapshot == null ? this.#init.replicaOf?.(rel, digest.sha256) : undefined
    // new content at a known path is a new version, produced here
    const version = replica?.version ?? (previous != null ? previous.version + 1 : 1)
    const infoHash = await this.#init.torrent?.infoHash(servePath, digest, signal)
    if (this.#changedMeanwhile(rel, previous)) {
      // a replica landed here while this file was hashed: it is cataloged with its producer's origin, not as ours
      if (snapshot != null) await rm(servePath, { force: true })
      return
    }
    m.put(
      {
        path: rel,
        sha256: digest.sha256,
        size: digest.size,
        kind,
        origin: replica?.origin ?? m.self,
        version,
        mtimeMs: replica?.mtimeMs ?? mtimeMs,
        localMtimeMs: mtimeMs,
        chunkRoot: digest.chunkRoot,
        chunkSize: digest.chunkSize,
        chunkHashes: digest.chunkHashes,
        infoHash,
        promoted: replica?.promoted ?? previous?.promoted ?? false,
        ino,
        snapshot,
      },
      this.#init.clock.now(),
    )
    if (previous?.snapshot != null && previous.snapshot !== snapshot) {
      await rm(join(this.#init.snapshotDir, previous.snapshot), { force: true })
    }
    if (replica != null) this.#init.log.info({ path: rel, sha256: digest.sha256, origin: replica.origin, version }, 'replica found in place; cataloged as its producer\'s')
    else this.#init.log.info({ path: rel, sha256: digest.sha256, size: digest.size, kind, version, snapshot: snapshot != null }, 'file announced')
  }

  /**
   * The catalog entry at `rel` is no longer the one this scan started from, or
   * a landing is putting a replica there: what was hashed is not ours to
   * announce (the next scan looks again, against the new entry).
   */
  #changedMeanwhile(rel: string, previous: LocalFile | undefined): boolean {
    const m = this.#init.manifest
    if (m.get(rel) === previous && !m.isLanding(rel)) return false
    this.#init.log.debug({ path: rel }, 'catalog entry changed while the file was hashed; left to the next scan')
    return true
  }

  async #walSignature(abs: string): Promise<string> {
    try {
      const w = await stat(`${abs}-wal`)
      return `${w.size}:${w.mtimeMs}`
    } catch {
      return ''
    }
  }

  async #kind(abs: string): Promise<Kind> {
    const head = await readHead(abs)
    return detectKind(abs, head)
  }

  async #isWal(abs: string): Promise<boolean> {
    return isWalMode(await readHead(abs))
  }
}

async function readHead(abs: string): Promise<Uint8Array> {
  const fh = await open(abs, 'r')
  try {
    const buf = Buffer.alloc(64)
    const { bytesRead } = await fh.read(buf, 0, 64, 0)
    return buf.subarray(0, bytesRead)
  } finally {
    await fh.close()
  }
}
