import { Transform } from 'streamx'
import type { RateLimiter } from '../transfer/rate-limiter.js'

/**
 * webtorrent throttles every wire through its client's `throttleGroups`
 * (`{ down, up }`, each with `throttle()` giving a stream the wire's bytes pass
 * through, and `destroy()`). These groups take their bytes from the node's own
 * upload and download buckets instead, the ones libp2p transfers use, so the
 * two transports together stay within bandwidth.upload/download (or the
 * provider's figure): with separate caps a node serving both could use twice
 * its cap. Each wire is a flow of its own in the bucket's fair queue, weight
 * 1 (normal), like one libp2p transfer.
 */
export interface SharedThrottleGroups {
  down: LimiterGroup
  up: LimiterGroup
}

export function sharedThrottleGroups(limits: { upload: RateLimiter; download: RateLimiter }): SharedThrottleGroups {
  return { down: new LimiterGroup(limits.download, 'bt-down'), up: new LimiterGroup(limits.upload, 'bt-up') }
}

/** Weight of a BitTorrent wire in the node's fair queue (a normal-priority libp2p transfer is 1). */
const BT_WEIGHT = 1

/**
 * A wire takes from the bucket in quanta this large and spends them on its
 * next chunks. The bucket serves whoever waits one request at a time, and a
 * libp2p session asks for one 1 MiB chunk at a time: a wire asking for each
 * 16 KiB block on its own got one block per libp2p chunk (1.5% of the cap,
 * measured; the transfer then stalled). Taking the same quantum gives a wire
 * the same share as a libp2p session.
 */
const QUANTUM = 1024 * 1024

/** Credit a wire has not spent after this long idle goes back to the bucket. */
const IDLE_REFUND_MS = 50

export class LimiterGroup {
  readonly #limiter: RateLimiter
  readonly #prefix: string
  readonly #open = new Set<LimiterThrottle>()
  #next = 0

  constructor(limiter: RateLimiter, prefix: string) {
    this.#limiter = limiter
    this.#prefix = prefix
  }

  /** A stream for one wire's bytes in this direction. */
  throttle(): Transform {
    const t = new LimiterThrottle(this.#limiter, `${this.#prefix}-${this.#next++}`, () => this.#open.delete(t))
    this.#open.add(t)
    return t
  }

  /** Wires still open (for tests). */
  get size(): number {
    return this.#open.size
  }

  /** The client is going away: every wire's waiting bytes are dropped. */
  destroy(): void {
    for (const t of this.#open) t.destroy()
    this.#open.clear()
  }
}

class LimiterThrottle extends Transform {
  readonly #limiter: RateLimiter
  readonly #flow: string
  readonly #gone = new AbortController()
  readonly #onGone: () => void
  /** Bytes taken from the bucket and not yet passed on. */
  #credit = 0
  #idle: NodeJS.Timeout | undefined

  constructor(limiter: RateLimiter, flow: string, onGone: () => void) {
    super()
    this.#limiter = limiter
    this.#flow = flow
    this.#onGone = onGone
  }

  override _transform(data: unknown, cb: (err: Error | null, data?: unknown) => void): void {
    const chunk = data as Uint8Array
    const len = chunk.byteLength
    // uncapped: no promise per chunk
    if (this.#limiter.rate <= 0) {
      cb(null, chunk)
      return
    }
    if (this.#idle != null) clearTimeout(this.#idle)
    if (this.#credit >= len) {
      this.#credit -= len
      this.#armRefund()
      cb(null, chunk)
      return
    }
    const need = Math.max(QUANTUM, len - this.#credit)
    this.#limiter.take(need, this.#flow, BT_WEIGHT, this.#gone.signal).then(
      () => {
        this.#credit += need - len
        this.#armRefund()
        cb(null, chunk)
      },
      (err: unknown) => cb(err instanceof Error ? err : new Error(String(err))),
    )
  }

  override _destroy(cb: (err: Error | null) => void): void {
    if (this.#idle != null) clearTimeout(this.#idle)
    this.#gone.abort(new Error('bittorrent wire closed'))
    this.#limiter.refund(this.#credit)
    this.#credit = 0
    this.#limiter.endFlow(this.#flow)
    this.#onGone()
    cb(null)
  }

  #armRefund(): void {
    if (this.#credit <= 0) return
    this.#idle = setTimeout(() => {
      this.#idle = undefined
      this.#limiter.refund(this.#credit)
      this.#credit = 0
    }, IDLE_REFUND_MS)
    this.#idle.unref()
  }
}
