import type { ResolvedConfig } from '../config/load.js'
import { CIRCUIT_PRESETS } from '../config/schema.js'
import type { Clock } from '../util/clock.js'

export type BreakerState = 'closed' | 'open' | 'half-open'

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  failures: number
  /** How long it stays open before one trial request is let through. */
  openMs: number
}

/** transfer.circuitBreaker: the preset, with `failures` and `openSeconds` overriding it. */
export function breakerOptions(cfg: ResolvedConfig): BreakerOptions {
  const c = cfg.transfer.circuitBreaker
  const preset = CIRCUIT_PRESETS[c.preset]
  return { failures: c.failures ?? preset.failures, openMs: (c.openSeconds ?? preset.openSeconds) * 1000 }
}

interface Breaker {
  state: BreakerState
  failures: number
  openedAt: number
  trialInFlight: boolean
}

/**
 * One circuit breaker per peer: closed (normal); open after N consecutive
 * failures (the peer is skipped: a dead spot node costs nothing); half-open
 * after the timeout, letting one trial through; closed again on its success,
 * open again on its failure.
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
      b = { state: 'closed', failures: 0, openedAt: 0, trialInFlight: false }
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
    if (b.trialInFlight) return false
    b.trialInFlight = true
    return true
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
