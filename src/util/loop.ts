import { AsyncLocalStorage } from 'node:async_hooks'
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

/** A loop's health: when its last tick succeeded (for /health/cluster's stalled-loop check). */
export interface LoopStatus {
  name: string
  intervalMs: number
  running: boolean
  startedMs?: number
  lastOkMs?: number
  lastErrorMs?: number
  lastError?: string
  /** A tick has been running since then. */
  tickSinceMs?: number
}

/**
 * The loops made inside `loopScope.run(list, ...)` add themselves to `list`,
 * so a node knows its loops without every part handing its own over.
 */
export const loopScope = new AsyncLocalStorage<Loop[]>()

/**
 * One loop per concern: it owns its timer, never overlaps itself, can be
 * poked to run soon, and stops cleanly. Ticks receive a signal that aborts on stop.
 */
export class Loop {
  readonly #init: LoopInit
  readonly #tick: (signal: AbortSignal) => Promise<void> | void
  #timer: TimerHandle | undefined
  #dueAt: number | undefined
  /** A pokeIn that arrived while a tick ran. */
  #pokeAt: number | undefined
  #running: Promise<void> | undefined
  #pokeAgain = false
  #controller: AbortController | undefined
  #intervalMs: number
  #startedMs: number | undefined
  #lastOkMs: number | undefined
  #lastErrorMs: number | undefined
  #lastError: string | undefined
  #tickSinceMs: number | undefined

  constructor(init: LoopInit, tick: (signal: AbortSignal) => Promise<void> | void) {
    this.#init = init
    this.#tick = tick
    this.#intervalMs = init.intervalMs
    loopScope.getStore()?.push(this)
  }

  get status(): LoopStatus {
    return {
      name: this.#init.name,
      intervalMs: this.#intervalMs,
      running: this.running,
      startedMs: this.#startedMs,
      lastOkMs: this.#lastOkMs,
      lastErrorMs: this.#lastErrorMs,
      lastError: this.#lastError,
      tickSinceMs: this.#tickSinceMs,
    }
  }

  get running(): boolean {
    return this.#controller != null
  }

  start(runNow = true): void {
    if (this.#controller != null) return
    this.#controller = new AbortController()
    this.#startedMs = this.#init.clock.now()
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

  /** Runs a tick in `ms` unless one is due sooner. */
  pokeIn(ms: number): void {
    if (this.#controller == null) return
    const at = this.#init.clock.now() + ms
    if (this.#running != null) {
      this.#pokeAt = Math.min(this.#pokeAt ?? Number.POSITIVE_INFINITY, at)
      return
    }
    if (this.#dueAt != null && this.#dueAt <= at) return
    this.#schedule(ms)
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
    this.#dueAt = undefined
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
    this.#dueAt = this.#init.clock.now() + delay
    this.#timer = this.#init.clock.setTimeout(() => {
      this.#timer = undefined
      this.#dueAt = undefined
      void this.#run().then(() => {
        if (this.#controller == null) return
        const pokeAt = this.#pokeAt
        this.#pokeAt = undefined
        if (this.#pokeAgain) {
          this.#pokeAgain = false
          this.#schedule(0)
        } else if (this.#timer == null) {
          const regular = this.#nextDelay()
          this.#schedule(pokeAt != null ? Math.max(0, Math.min(regular, pokeAt - this.#init.clock.now())) : regular)
        }
      })
    }, delay)
  }

  async #run(): Promise<void> {
    const controller = this.#controller
    if (controller == null) return
    const run = (async () => {
      this.#tickSinceMs = this.#init.clock.now()
      try {
        await this.#tick(controller.signal)
        this.#lastOkMs = this.#init.clock.now()
      } catch (err) {
        if (!controller.signal.aborted) {
          this.#lastErrorMs = this.#init.clock.now()
          this.#lastError = errorMessage(err)
          this.#init.log.warn({ loop: this.#init.name, err: errorMessage(err) }, 'loop tick failed')
        }
      }
    })()
    this.#running = run
    try {
      await run
    } finally {
      this.#running = undefined
      this.#tickSinceMs = undefined
    }
  }
}
