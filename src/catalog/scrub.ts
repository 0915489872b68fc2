import { lstat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Clock } from '../util/clock.js'
import { errorMessage, isAbort } from '../util/errors.js'
import type { Logger } from '../util/log.js'
import { Loop } from '../util/loop.js'
import { hashWholeFile } from './hasher.js'
import type { LocalFile, LocalManifest } from './local-manifest.js'

export interface ScrubInit {
  manifest: LocalManifest
  dataDir: string
  snapshotDir: string
  /** Bytes re-read per second at most (catalog.scrubRate); 0 turns scrubbing off. */
  rate: number
  /**
   * A file's bytes no longer hash to its catalog entry while its size, mtime
   * and inode are unchanged: rot. The node quarantines it and drops it from
   * its manifest, so the cluster counts one copy less and repairs it.
   */
  onRotten: (file: LocalFile, abs: string, actualSha256: string) => Promise<void>
  clock: Clock
  log: Logger
}

/** How often the loop wakes; each pass re-reads up to rate x this many bytes. */
const TICK_MS = 10_000

/**
 * The periodic scrub: re-hashes every cataloged file in turn, at a bounded
 * rate, and reports the ones whose bytes changed under an unchanged stat
 * (silent corruption: a bad disk, a bad copy, a stray write that kept the
 * mtime). A file whose stat changed is the scanner's business, not rot.
 * Serving re-checks each chunk too (transfer.verifyOnSend) and asks for a
 * file to be scrubbed at once when one fails.
 */
export class Scrubber {
  readonly #init: ScrubInit
  readonly #loop: Loop
  /** Paths asked for out of turn (a chunk failed its hash while served). */
  readonly #urgent = new Set<string>()
  /** The last path scrubbed in the round-robin (paths in sorted order). */
  #cursor = ''
  readonly stats = { files: 0, bytes: 0, rotten: 0 }

  constructor(init: ScrubInit) {
    this.#init = init
    this.#loop = new Loop({ name: 'scrub', intervalMs: TICK_MS, clock: init.clock, log: init.log }, (signal) => this.#tick(signal))
  }

  start(): void {
    if (this.#init.rate > 0) this.#loop.start(false)
  }

  async stop(): Promise<void> {
    await this.#loop.stop()
  }

  /** Scrub this file at the next tick, out of turn. */
  soon(path: string): void {
    this.#urgent.add(path)
    this.#loop.poke()
  }

  /** One pass now (tests). */
  async runOnce(): Promise<void> {
    await this.#loop.runOnce()
  }

  async #tick(signal: AbortSignal): Promise<void> {
    const m = this.#init.manifest
    for (const path of [...this.#urgent]) {
      this.#urgent.delete(path)
      const f = m.get(path)
      if (f != null) await this.#check(f, signal)
    }
    let budget = (this.#init.rate * TICK_MS) / 1000
    const paths = [...m.all()].map((f) => f.path).sort()
    if (paths.length === 0) return
    let i = paths.findIndex((p) => p > this.#cursor)
    if (i < 0) i = 0
    for (let n = 0; n < paths.length && budget > 0; n++, i = (i + 1) % paths.length) {
      signal.throwIfAborted()
      const f = m.get(paths[i]!)
      this.#cursor = paths[i]!
      if (f == null) continue
      await this.#check(f, signal)
      budget -= Math.max(f.size, 1)
    }
  }

  async #check(f: LocalFile, signal: AbortSignal): Promise<void> {
    const abs = f.snapshot != null ? join(this.#init.snapshotDir, f.snapshot) : join(this.#init.dataDir, f.path)
    try {
      const before = await lstat(abs)
      // changed since it was cataloged: the scanner rehashes it as a new version, not rot
      if (f.snapshot == null && (before.size !== f.size || before.mtimeMs !== f.localMtimeMs || before.ino !== f.ino)) return
      const { sha256: sha } = await hashWholeFile(abs, { signal, rate: this.#init.rate })
      const after = await lstat(abs)
      if (after.size !== before.size || after.mtimeMs !== before.mtimeMs) return
      this.stats.files++
      this.stats.bytes += f.size
      if (sha === f.sha256) return
      this.stats.rotten++
      this.#init.log.error({ path: f.path, expected: f.sha256, actual: sha }, 'scrub: a file no longer matches its catalog entry (its stat did not change)')
      await this.#init.onRotten(f, abs, sha).catch((err: unknown) => {
        // not the file's fault: quarantining it failed; it is looked at again next round
        this.#init.log.warn({ path: f.path, err: errorMessage(err) }, 'scrub: could not quarantine a rotten file')
      })
    } catch (err) {
      if (isAbort(err) || signal.aborted) throw err
      // gone or unreadable now: the scanner sees to it
      this.#init.log.debug({ path: f.path, err: errorMessage(err) }, 'scrub skipped a file')
    }
  }
}
