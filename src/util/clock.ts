/**
 * Time as the node sees it. Everything that waits or stamps goes through a
 * Clock so tests and the simulation can drive time by hand.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  setTimeout(fn: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
  /** Resolves after `ms`, rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

export type TimerHandle = { readonly id: number }

let nextId = 1

class SystemClock implements Clock {
  readonly #timers = new Map<number, NodeJS.Timeout>()

  now(): number {
    return Date.now()
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = nextId++
    const t = setTimeout(() => {
      this.#timers.delete(id)
      fn()
    }, Math.max(0, ms))
    t.unref?.()
    this.#timers.set(id, t)
    return { id }
  }

  clearTimeout(handle: TimerHandle): void {
    const t = this.#timers.get(handle.id)
    if (t != null) {
      clearTimeout(t)
      this.#timers.delete(handle.id)
    }
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepWith(this, ms, signal)
  }
}

export const systemClock: Clock = new SystemClock()

/** A clock that only moves when told to: for deterministic tests. */
export class ManualClock implements Clock {
  #now: number
  readonly #timers = new Map<number, { at: number; fn: () => void }>()

  constructor(start = 1_700_000_000_000) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = nextId++
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn })
    return { id }
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle.id)
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepWith(this, ms, signal)
  }

  /** Moves time forward, firing due timers in order (including ones they set). */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined
      for (const entry of this.#timers) {
        if (entry[1].at <= target && (due == null || entry[1].at < due[1].at)) due = entry
      }
      if (due == null) break
      this.#timers.delete(due[0])
      this.#now = Math.max(this.#now, due[1].at)
      due[1].fn()
      // let promise continuations scheduled by the timer run before the next one
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
    this.#now = target
    // let work that reacts to the new time (without a timer) settle before returning
    await new Promise<void>((resolve) => setImmediate(resolve))
  }

  get pendingTimers(): number {
    return this.#timers.size
  }
}

function sleepWith(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = (): void => {
      clock.clearTimeout(handle)
      reject(signal?.reason)
    }
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
