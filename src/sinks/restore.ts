import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { ManifestEntry } from '../../protocols/manifest/index.js'
import { digestFile } from '../catalog/hasher.js'
import type { EventLog } from '../state/event-log.js'
import { ChecksumError, land, type LandingInit } from '../transfer/landing.js'
import { errorMessage, isAbort } from '../util/errors.js'
import type { Sink, SinkError } from './index.js'

export interface RestoreOptions {
  sinks: Sink[]
  /** Only paths this accepts (`--where GLOB`). */
  where?: (path: string) => boolean
  /** Only these content hashes (the node restoring files that lost every live holder). */
  only?: ReadonlySet<string>
  landing: LandingInit
  stagingDir: string
  events?: EventLog
  signal?: AbortSignal
}

export interface RestoreResult {
  restored: { path: string; sha256: string; size: number; sink: string }[]
  /** Already here, byte for byte. */
  present: number
  failed: { path: string; sink: string; error: string }[]
}

/**
 * The newest version of each (origin, path) in the sinks' index objects:
 * enough to rebuild a lost cluster's manifest from the bucket alone.
 */
export async function indexOf(sinks: Sink[], signal?: AbortSignal, onRefused?: (err: SinkError) => void): Promise<Map<string, { entry: ManifestEntry; sinks: Sink[] }>> {
  const out = new Map<string, { entry: ManifestEntry; sinks: Sink[] }>()
  for (const sink of sinks) {
    for await (const e of sink.listIndex({ signal, onRefused })) {
      const key = `${e.origin}\u0000${e.path}`
      const have = out.get(key)
      if (have == null || e.version > have.entry.version) out.set(key, { entry: e, sinks: [sink] })
      else if (e.version === have.entry.version && e.sha256 === have.entry.sha256 && !have.sinks.includes(sink)) have.sinks.push(sink)
    }
  }
  return out
}

/**
 * Restores files from sinks into a data dir: each blob is downloaded into
 * staging, its chunk hashes and root recomputed and checked against the
 * index entry, then landed through the same landing as any transfer (size
 * and SHA-256, kind validation, quarantine, rename, fsync). A sink that
 * returns wrong bytes is not believed: the next sink holding it is tried.
 */
export async function restoreFromSinks(o: RestoreOptions): Promise<RestoreResult> {
  const result: RestoreResult = { restored: [], present: 0, failed: [] }
  // an index object over its bound is not read: named among the failures, and the rest is restored
  const index = await indexOf(o.sinks, o.signal, (err) => result.failed.push({ path: '(index)', sink: err.sink, error: err.message }))
  const signal = o.signal ?? new AbortController().signal
  for (const { entry, sinks } of [...index.values()].sort((a, b) => (a.entry.path < b.entry.path ? -1 : 1))) {
    signal.throwIfAborted()
    if (o.where != null && !o.where(entry.path)) continue
    if (o.only != null && !o.only.has(entry.sha256)) continue
    if (o.landing.manifest.bySha(entry.sha256).length > 0) {
      result.present++
      continue
    }
    const errors: { path: string; sink: string; error: string }[] = []
    let done = false
    for (const sink of sinks) {
      try {
        await restoreOne(o, sink, entry, signal)
        result.restored.push({ path: entry.path, sha256: entry.sha256, size: entry.size, sink: sink.name })
        o.events?.emit('restore_completed', { sha256: entry.sha256, path: entry.path, size: entry.size, sink: sink.name })
        done = true
        break
      } catch (err) {
        if (isAbort(err)) throw err
        errors.push({ path: entry.path, sink: sink.name, error: errorMessage(err) })
      }
    }
    if (!done) result.failed.push(...errors)
  }
  return result
}

export async function restoreOne(o: Pick<RestoreOptions, 'landing' | 'stagingDir'>, sink: Sink, entry: ManifestEntry, signal: AbortSignal): Promise<void> {
  const staging = join(o.stagingDir, `restore-${entry.sha256.slice(0, 16)}-${randomBytes(4).toString('hex')}`)
  try {
    const body = await sink.get(entry.sha256, { signal })
    const fh = await open(staging, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644)
    let size = 0
    try {
      for await (const chunk of body) {
        const b = chunk as Buffer
        size += b.byteLength
        if (size > entry.size) {
          body.destroy()
          throw new ChecksumError(`${entry.path}: sink '${sink.name}' sent more than the ${entry.size} bytes its index says`)
        }
        await fh.write(b, 0, b.byteLength)
      }
      await fh.sync()
    } finally {
      await fh.close()
    }
    const d = await digestFile(staging, { signal })
    if (d.sha256 === entry.sha256 && d.chunkRoot !== entry.chunkRoot) {
      throw new ChecksumError(`${entry.path}: chunk root from sink '${sink.name}' is ${d.chunkRoot.slice(0, 12)}, index says ${entry.chunkRoot.slice(0, 12)}`)
    }
    await land(o.landing, { entry, stagingPath: staging, digest: d.sha256, chunkSize: d.chunkSize, chunkHashes: d.chunkHashes, sources: [`sink:${sink.name}`] }, signal)
  } finally {
    // land renamed or quarantined it; anything left is ours to remove
    await rm(staging, { force: true })
  }
}
