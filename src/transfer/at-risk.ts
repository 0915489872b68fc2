import type { EventLog } from '../state/event-log.js'
import type { Clock } from '../util/clock.js'

/** A file being fetched whose only usable holder is flaky. */
export interface AtRiskFile {
  sha256: string
  path: string
  /** The flaky holder. */
  peer: string
  /** Why: it sent chunks that failed their hash, or its circuit breaker is open. */
  reason: string
  /** Verified copies known when it was first seen at risk (undefined: unknown). */
  copies?: number
  sinceMs: number
}

/**
 * Files whose download depends on one flaky holder (it sent bad chunks, or
 * its breaker is open, and no other holder is usable): the download keeps
 * that holder and probes it, and the file is shown at risk until it lands
 * or its transfer is dropped. A `file_at_risk` event once per transfer.
 */
export class AtRiskFiles {
  readonly #files = new Map<string, AtRiskFile>()
  readonly #events: EventLog
  readonly #clock: Clock
  /** Is a transfer of this file still wanted (queued, waiting or running)? */
  readonly #wanted: (sha256: string) => boolean

  constructor(init: { events: EventLog; clock: Clock; wanted: (sha256: string) => boolean }) {
    this.#events = init.events
    this.#clock = init.clock
    this.#wanted = init.wanted
  }

  mark(f: Omit<AtRiskFile, 'sinceMs'>): void {
    if (this.#files.has(f.sha256)) return
    this.#files.set(f.sha256, { ...f, sinceMs: this.#clock.now() })
    this.#events.emit('file_at_risk', { sha256: f.sha256, path: f.path, peer: f.peer, reason: f.reason, ...(f.copies != null ? { copies: f.copies } : {}) })
  }

  get(sha256: string): AtRiskFile | undefined {
    this.#prune()
    return this.#files.get(sha256)
  }

  list(): AtRiskFile[] {
    this.#prune()
    return [...this.#files.values()]
  }

  #prune(): void {
    for (const sha of this.#files.keys()) if (!this.#wanted(sha)) this.#files.delete(sha)
  }
}
