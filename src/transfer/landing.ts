import { lstat, rename, rm, stat, utimes } from 'node:fs/promises'
import { dirname, join, posix } from 'node:path'
import type { ManifestEntry } from '../../protocols/manifest/index.js'
import type { LocalFile, LocalManifest } from '../catalog/local-manifest.js'
import type { Kind } from '../config/schema.js'
import type { Quarantine } from '../quarantine/quarantine.js'
import type { Clock } from '../util/clock.js'
import { MeshsyncError, ValidationError } from '../util/errors.js'
import { fsyncDir, prepareTarget } from '../util/fs.js'
import type { Verdict } from '../validate/types.js'
import { hashWholeFile, type Sha1Pieces } from '../catalog/hasher.js'

/** The staged file's bytes do not hash to what the manifest says (a retry from other holders may help). */
export class ChecksumError extends MeshsyncError {
  constructor(message: string) {
    super('ERR_CHECKSUM', message)
  }
}

/** The bytes are the right ones but not a valid file of their kind (no holder can do better). */
export class KindInvalidError extends ValidationError {}

export interface LandingInit {
  dataDir: string
  manifest: LocalManifest
  quarantine: Quarantine
  clock: Clock
  validate: (path: string, kind: Kind, sha256: string, signal: AbortSignal) => Promise<Verdict>
  /**
   * This node's own infoHash of the verified bytes (BitTorrent), never the
   * sender's: undefined for files without a torrent. Without this hook the
   * entry's infoHash is kept as it came.
   */
  infoHash?: (stagingPath: string, entry: ManifestEntry, signal: AbortSignal, pieces?: Sha1Pieces) => Promise<string | undefined>
  /**
   * The piece length of the torrent of a file of this size (undefined: none), so a download can hash the
   * pieces as it writes, in the same pass as its SHA-256, and landing does not read the file again for them.
   */
  pieceLength?: (size: number) => number | undefined
}

export interface Staged {
  entry: ManifestEntry
  stagingPath: string
  /** SHA-256 of the staged bytes as they were written. */
  digest: string
  chunkSize: number
  chunkHashes: Uint8Array
  /** Holders the bytes came from (for the quarantine record). */
  sources: string[]
  /** SHA-1 pieces of the staged bytes, hashed as they were written (for the infoHash hook). */
  sha1Pieces?: Sha1Pieces
}

/**
 * Puts a fully staged file under its final name, or into quarantine. In
 * order: size and SHA-256 against the manifest, kind validation, a target
 * path with no symlink in it, atomic rename, fsync of the folder, durable
 * catalog commit. Nothing unverified is ever visible under a final name.
 */
export async function land(init: LandingInit, s: Staged, signal: AbortSignal): Promise<LocalFile> {
  const e = s.entry
  const st = await stat(s.stagingPath)
  const quarantine = async (reason: string, sha256: string): Promise<void> => {
    await init.quarantine.add(s.stagingPath, {
      path: e.path,
      sha256,
      expectedSha256: e.sha256,
      kind: e.kind,
      reason,
      sourcePeer: s.sources.join(',') || undefined,
      foundAt: 'receiver',
    })
  }
  if (st.size !== e.size) {
    await quarantine(`size ${st.size}, manifest says ${e.size}`, s.digest)
    throw new ChecksumError(`${e.path}: staged ${st.size} bytes, expected ${e.size}`)
  }
  if (s.digest !== e.sha256) {
    await quarantine(`sha256 mismatch: got ${s.digest}, manifest says ${e.sha256}`, s.digest)
    throw new ChecksumError(`${e.path}: staged bytes hash to ${s.digest.slice(0, 12)}, expected ${e.sha256.slice(0, 12)}`)
  }
  const verdict = await init.validate(s.stagingPath, e.kind, e.sha256, signal)
  if (!verdict.ok) {
    await quarantine(verdict.reason, s.digest)
    throw new KindInvalidError(`${e.path}: ${verdict.reason}`)
  }

  // from here until the catalog commit the scanner leaves the path alone: it must not announce the renamed file as
  // this node's own, nor take a committed entry out because its listing of the folder was older than the rename
  const releases = [init.manifest.beginLanding(e.path)]
  try {
    const target = await chooseTarget(init, e, signal)
    if (target.kind === 'held') {
      await rm(s.stagingPath, { force: true })
      return target.file
    }
    const rel = target.rel
    if (rel !== e.path) releases.push(init.manifest.beginLanding(rel))
    const infoHash = init.infoHash != null ? await init.infoHash(s.stagingPath, e, signal, s.sha1Pieces) : e.infoHash
    const abs = await prepareTarget(init.dataDir, rel)
    const mtime = new Date(e.mtimeMs > 0 ? e.mtimeMs : init.clock.now())
    await utimes(s.stagingPath, mtime, mtime)
    await rename(s.stagingPath, abs)
    await fsyncDir(dirname(abs))
    const landed = await lstat(abs)
    return init.manifest.put(
      {
        ...e,
        infoHash,
        path: rel,
        ino: landed.ino,
        localMtimeMs: landed.mtimeMs,
        chunkSize: s.chunkSize,
        chunkHashes: Buffer.from(s.chunkHashes),
        facts: verdict.facts,
      },
      init.clock.now(),
    )
  } finally {
    for (const release of releases) release()
  }
}

type Target = { kind: 'held'; file: LocalFile } | { kind: 'land'; rel: string }

/**
 * Where a replica lands: the manifest path, unless something else is there.
 * An older version of the same file (same origin) is replaced, and so is an
 * uncataloged file there with exactly these bytes (a copy that landed before
 * a crash, or that something took out of the catalog): it is cataloged as the
 * producer's, never given a second name. Anything else (a local file, another
 * origin's file) is left alone and the replica gets a name with its hash in
 * it. 'held' when the catalog already has these bytes at one of those paths.
 */
async function chooseTarget(init: LandingInit, e: ManifestEntry, signal: AbortSignal): Promise<Target> {
  const here = init.manifest.get(e.path)
  if (here?.sha256 === e.sha256) return { kind: 'held', file: here }
  if (here != null && here.origin === e.origin && here.version < e.version) return { kind: 'land', rel: e.path }
  if (here == null) {
    const abs = join(init.dataDir, e.path)
    const st = await lstat(abs).catch(() => undefined)
    if (st == null) return { kind: 'land', rel: e.path }
    if (st.isFile() && st.size === e.size && (await sameBytes(abs, e.sha256, signal))) return { kind: 'land', rel: e.path }
  }
  const dir = posix.dirname(e.path)
  const base = posix.basename(e.path)
  const dot = base.lastIndexOf('.')
  const alt = dot > 0 ? `${base.slice(0, dot)}.${e.sha256.slice(0, 12)}${base.slice(dot)}` : `${base}.${e.sha256.slice(0, 12)}`
  const rel = dir === '.' ? alt : `${dir}/${alt}`
  const there = init.manifest.get(rel)
  if (there?.sha256 === e.sha256) return { kind: 'held', file: there }
  return { kind: 'land', rel }
}

async function sameBytes(abs: string, sha256: string, signal: AbortSignal): Promise<boolean> {
  try {
    return (await hashWholeFile(abs, { signal })).sha256 === sha256
  } catch (err) {
    if (signal.aborted) throw err
    return false
  }
}
