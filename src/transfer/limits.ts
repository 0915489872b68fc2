import type { ResolvedConfig } from '../config/load.js'
import type { Clock } from '../util/clock.js'
import { RateLimiter } from './rate-limiter.js'

/**
 * The node's bandwidth limits: one upload and one download bucket for the
 * whole node (bandwidth.upload/download, else the figure for this node's
 * provider), and one per remote peer (bandwidth.perPeer, capped by the
 * figure for the peer's provider). 0 = unlimited.
 */
export class Limits {
  readonly upload: RateLimiter
  readonly download: RateLimiter
  readonly #perPeer = new Map<string, RateLimiter>()
  readonly #cfg: ResolvedConfig
  readonly #clock: Clock
  readonly #providerOf: (peer: string) => string | undefined

  constructor(cfg: ResolvedConfig, clock: Clock, providerOf: (peer: string) => string | undefined) {
    this.#cfg = cfg
    this.#clock = clock
    this.#providerOf = providerOf
    const own = cfg.bandwidth.providers[cfg.node.provider] ?? 0
    this.upload = new RateLimiter(cfg.bandwidth.upload || own, clock)
    this.download = new RateLimiter(cfg.bandwidth.download || own, clock)
  }

  peer(peer: string): RateLimiter {
    let l = this.#perPeer.get(peer)
    if (l == null) {
      const provider = this.#providerOf(peer)
      const theirs = provider != null ? (this.#cfg.bandwidth.providers[provider] ?? 0) : 0
      const mine = this.#cfg.bandwidth.perPeer
      const rate = mine > 0 && theirs > 0 ? Math.min(mine, theirs) : mine || theirs
      l = new RateLimiter(rate, this.#clock)
      this.#perPeer.set(peer, l)
    }
    return l
  }
}
