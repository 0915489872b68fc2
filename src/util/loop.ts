import { errorMessage } from './errors.js'
import type { Clock, TimerHandle } from './clock.js'
import type { Logger } from './log.js'

export interface LoopInit {
  name: string
  /** Milliseconds between the end of one tick and the start of the next. */
  intervalMs: number
  clock: Clock
  log: Logger
  /** Fraction of the interval added at random, so nodes started together drift apart. Default 0.1. */
  jitter?: number
  random?: () => number
}

/**
 * One loop per concern: it owns its timer, never overlaps itself, can be
 * poked to run soon, and stops cleanly. Ticks receive a signal that aborts on stop.
 */
export class Loop {
  readonly #init: LoopInit
  readonly #tick: (signal: AbortSignal) => Promise<void> | void
  #timer: TimerHandle | undefined
  #running: Promise<void> | undefined
  #pokeAgain = false
  #controller: AbortController | undefined
  #intervalMs: number

  constructor(init: LoopInit, tick: (signal: AbortSignal) => Promise<void> | void) {
    this.#init = init
    this.#tick = tick
    this.#intervalMs = init.intervalMs
  }

  get running(): boolean {
    return this.#controller != null
  }

  start(runNow = true): void {
    if (this.#controller != null) return
    this.#controller = new AbortController()
    this.#schedule(runNow ? 0 : this.#nextDelay())
  }

  /** Changes the interval from the next tick on. */
  setInterval(ms: number): void {
    this.#intervalMs = ms
  }

  /** Runs a tick as soon as the current one (if any) is done. */
  poke(): void {
    if (this.#controller == null) return
    if (this.#running != null) {
      this.#pokeAgain = true
      return
    }
    this.#schedule(0)
  }

  /** Runs one tick now and waits for it (for tests and commands). */
  async runOnce(): Promise<void> {
    if (this.#running != null) await this.#running
    await this.#run()
  }

  async stop(): Promise<void> {
    const controller = this.#controller
    if (controller == null) return
    this.#controller = undefined
    if (this.#timer != null) this.#init.clock.clearTimeout(this.#timer)
    this.#timer = undefined
    controller.abort(new Error(`${this.#init.name} stopped`))
    await this.#running?.catch(() => {})
  }

  #nextDelay(): number {
    const jitter = this.#init.jitter ?? 0.1
    const random = this.#init.random ?? Math.random
    return this.#intervalMs * (1 + jitter * random())
  }

  #schedule(delay: number): void {
    if (this.#timer != null) this.#init.clock.clearTimeout(this.#timer)
    this.#timer = this.#init.clock.setTimeout(() => {
      this.#timer = undefined
      void this.#run().then(() => {
        if (this.#controller == null) return
        if (this.#pokeAgain) {
          this.#pokeAgain = false
          this.#schedule(0)
        } else if (this.#timer == null) {
          this.#schedule(this.#nextDelay())
        }
      })
    }, delay)
  }

  async #run(): Promise<void> {
    const controller = this.#controller
    if (controller == null) return
    const run = (async () => {
      try {
        await this.#tick(controller.signal)
      } catch (err) {
        if (!controller.signal.aborted) {
          this.#init.log.warn({ loop: this.#init.name, err: errorMessage(err) }, 'loop tick failed')
        }
      }
    })()
    this.#running = run
    try {
      await run
    } finally {
      this.#running = undefined
    }
  }
}
