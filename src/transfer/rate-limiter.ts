import type { Clock, TimerHandle } from '../util/clock.js'

interface Waiter {
  bytes: number
  finish: number
  seq: number
  resolve: () => void
  reject: (err: unknown) => void
  signal?: AbortSignal
  onAbort?: () => void
}

/**
 * A token bucket shared by many flows, served in weighted fair order: a flow
 * with weight 2.0 (critical) gets twice the bytes of one with 1.0 (normal)
 * while both wait. A request is granted while the bucket is positive and may
 * take it into debt, so a 1 MiB chunk never waits for a 1 MiB bucket.
 * Rate 0 means unlimited.
 */
export class RateLimiter {
  #rate: number
  readonly #clock: Clock
  readonly #burst: number
  #tokens: number
  #last: number
  #virtual = 0
  readonly #lastFinish = new Map<string, number>()
  readonly #queue: Waiter[] = []
  #timer: TimerHandle | undefined
  #seq = 0

  constructor(rateBytesPerSecond: number, clock: Clock, burstSeconds = 0.05) {
    this.#rate = rateBytesPerSecond
    this.#clock = clock
    this.#burst = Math.max(64 * 1024, rateBytesPerSecond * burstSeconds)
    this.#tokens = this.#burst
    this.#last = clock.now()
  }

  get rate(): number {
    return this.#rate
  }

  setRate(rate: number): void {
    this.#refill()
    this.#rate = rate
    this.#pump()
  }

  /** Waits until `bytes` may be sent or received by `flow` with `weight`. */
  take(bytes: number, flow: string, weight: number, signal?: AbortSignal): Promise<void> {
    if (this.#rate <= 0) return Promise.resolve()
    signal?.throwIfAborted()
    const finish = Math.max(this.#virtual, this.#lastFinish.get(flow) ?? 0) + bytes / Math.max(weight, 0.01)
    this.#lastFinish.set(flow, finish)
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { bytes, finish, seq: this.#seq++, resolve, reject, signal }
      if (signal != null) {
        w.onAbort = () => {
          const i = this.#queue.indexOf(w)
          if (i >= 0) this.#queue.splice(i, 1)
          reject(signal.reason)
        }
        signal.addEventListener('abort', w.onAbort, { once: true })
      }
      this.#queue.push(w)
      this.#pump()
    })
  }

  /**
   * Gives back bytes taken but not used (a flow that takes ahead in large
   * quanta and then went idle). Lowers the debt, or fills the bucket up to
   * its burst, and serves whoever waits.
   */
  refund(bytes: number): void {
    if (this.#rate <= 0 || bytes <= 0) return
    this.#refill()
    this.#tokens = Math.min(this.#burst, this.#tokens + bytes)
    if (this.#timer != null) {
      this.#clock.clearTimeout(this.#timer)
      this.#timer = undefined
    }
    this.#pump()
  }

  /** Forget a flow's fairness state when it ends. */
  endFlow(flow: string): void {
    this.#lastFinish.delete(flow)
  }

  #refill(): void {
    const now = this.#clock.now()
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#rate)
    this.#last = now
  }

  #pump(): void {
    if (this.#timer != null) return
    this.#refill()
    while (this.#queue.length > 0 && (this.#tokens > 0 || this.#rate <= 0)) {
      let best = 0
      for (let i = 1; i < this.#queue.length; i++) {
        const a = this.#queue[i]!
        const b = this.#queue[best]!
        if (a.finish < b.finish || (a.finish === b.finish && a.seq < b.seq)) best = i
      }
      const w = this.#queue.splice(best, 1)[0]!
      this.#tokens -= w.bytes
      this.#virtual = Math.max(this.#virtual, w.finish)
      if (w.onAbort != null) w.signal?.removeEventListener('abort', w.onAbort)
      w.resolve()
    }
    if (this.#queue.length > 0) {
      const waitMs = Math.max(1, ((-this.#tokens + 1) / this.#rate) * 1000)
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = undefined
        this.#pump()
      }, waitMs)
    }
  }
}
