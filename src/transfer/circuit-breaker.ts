import type { ResolvedConfig } from '../config/load.js'
import { CIRCUIT_PRESETS } from '../config/schema.js'
import type { Clock } from '../util/clock.js'

export type BreakerState = 'closed' | 'open' | 'half-open'

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  failures: number
  /** How long it stays open before one trial request is let through. */
  openMs: number
  /**
   * A peer that is the only usable holder of a file is probed through its
   * open breaker at most once per this long (one probe at a time). Default 5 s.
   */
  soleProbeMs?: number
}

/** transfer.circuitBreaker: the preset, with `failures` and `openSeconds` overriding it. */
export function breakerOptions(cfg: ResolvedConfig): BreakerOptions {
  const c = cfg.transfer.circuitBreaker
  const preset = CIRCUIT_PRESETS[c.preset]
  return { failures: c.failures ?? preset.failures, openMs: (c.openSeconds ?? preset.openSeconds) * 1000, soleProbeMs: c.soleProbeSeconds * 1000 }
}

interface Breaker {
  state: BreakerState
  failures: number
  openedAt: number
  trialInFlight: boolean
  /** When the trial in flight was let through (a trial nobody reported on is forgotten after TRIAL_LOST_MS). */
  trialAt: number
  /** When the last probe of a sole holder was let through an open breaker. */
  probedAt: number
}

/** A trial or probe that reported neither success nor failure this long (its download was called off) no longer blocks the next. */
const TRIAL_LOST_MS = 30_000

/**
 * One circuit breaker per peer: closed (normal); open after N consecutive
 * failures (the peer is skipped: a dead spot node costs nothing); half-open
 * after the timeout, letting one trial through; closed again on its success,
 * open again on its failure.
 *
 * An open breaker saves effort where there is a choice; it never shuts out
 * the only source of a file. A download whose every other holder is gone,
 * banned or open asks `probe()` instead: one request at a time, at most one
 * per `soleProbeMs`, whatever the breaker's state. The breaker stays open
 * (other files' downloads, which have a choice, keep skipping the peer)
 * until a verified chunk closes it.
 */
export class CircuitBreakers {
  readonly #opts: BreakerOptions
  readonly #clock: Clock
  readonly #peers = new Map<string, Breaker>()
  onChange?: (peer: string, state: BreakerState) => void

  constructor(opts: BreakerOptions, clock: Clock) {
    this.#opts = opts
    this.#clock = clock
  }

  #get(peer: string): Breaker {
    let b = this.#peers.get(peer)
    if (b == null) {
      b = { state: 'closed', failures: 0, openedAt: 0, trialInFlight: false, trialAt: 0, probedAt: Number.NEGATIVE_INFINITY }
      this.#peers.set(peer, b)
    }
    return b
  }

  state(peer: string): BreakerState {
    const b = this.#peers.get(peer)
    if (b == null) return 'closed'
    if (b.state === 'open' && this.#clock.now() - b.openedAt >= this.#opts.openMs) return 'half-open'
    return b.state
  }

  /** May a request go to this peer now? In half-open state only one trial at a time. */
  allow(peer: string): boolean {
    const b = this.#get(peer)
    if (b.state === 'closed') return true
    if (b.state === 'open') {
      if (this.#clock.now() - b.openedAt < this.#opts.openMs) return false
      this.#set(peer, b, 'half-open')
    }
    if (this.#trialBusy(b)) return false
    b.trialInFlight = true
    b.trialAt = this.#clock.now()
    return true
  }

  /**
   * May a probe go to this peer, the only usable holder of a file, although
   * its breaker is open? True when the breaker is closed; otherwise one probe
   * at a time, at most one per soleProbeMs. Reported like a trial (success
   * closes the breaker, failure leaves it open).
   */
  probe(peer: string): boolean {
    const b = this.#get(peer)
    if (b.state === 'closed') return true
    const now = this.#clock.now()
    if (this.#trialBusy(b) || now - b.probedAt < (this.#opts.soleProbeMs ?? 5000)) return false
    b.probedAt = now
    b.trialInFlight = true
    b.trialAt = now
    return true
  }

  #trialBusy(b: Breaker): boolean {
    return b.trialInFlight && this.#clock.now() - b.trialAt < TRIAL_LOST_MS
  }

  success(peer: string): void {
    const b = this.#get(peer)
    b.failures = 0
    b.trialInFlight = false
    if (b.state !== 'closed') this.#set(peer, b, 'closed')
  }

  failure(peer: string): void {
    const b = this.#get(peer)
    b.trialInFlight = false
    b.failures++
    if (b.state === 'half-open' || (b.state === 'closed' && b.failures >= this.#opts.failures)) {
      b.openedAt = this.#clock.now()
      this.#set(peer, b, 'open')
    }
  }

  /** Opens the breaker now, whatever the count: the peer did something no retry excuses (sent data that failed its hash). */
  trip(peer: string): void {
    const b = this.#get(peer)
    b.trialInFlight = false
    b.failures = Math.max(b.failures + 1, this.#opts.failures)
    b.openedAt = this.#clock.now()
    if (b.state !== 'open') this.#set(peer, b, 'open')
  }

  snapshot(): Record<string, { state: BreakerState; failures: number }> {
    const out: Record<string, { state: BreakerState; failures: number }> = {}
    for (const [peer, b] of this.#peers) out[peer] = { state: this.state(peer), failures: b.failures }
    return out
  }

  #set(peer: string, b: Breaker, state: BreakerState): void {
    b.state = state
    this.onChange?.(peer, state)
  }
}
