import type { Clock } from '../util/clock.js'
import { errorMessage } from '../util/errors.js'
import type { Logger } from '../util/log.js'
import { Loop } from '../util/loop.js'

export interface ReconnectInit {
  /** Peers connected now. */
  connected(): number
  /** Dials one multiaddr ending in /p2p/<peerId>. */
  dial(addr: string, signal: AbortSignal): Promise<void>
  /** The configured bootstrap addresses. */
  bootstrap: string[]
  /** Addresses of peers known from earlier health gossip (kept in SQLite across restarts). */
  known(): string[]
  /** Below this many connections the loop dials. */
  minPeers: number
  intervalMs: number
  clock: Clock
  log: Logger
}

/**
 * Keeps a node in the mesh. libp2p's bootstrap dials once at start: a node
 * whose dials failed then (its bootstrap host busy, restarting, or gone), or
 * that lost every connection later (a partition, a network blip), would stay
 * alone. While it has fewer than `minPeers` connections, this loop dials the
 * bootstrap list and a few peers it knew before, so a cluster also re-forms
 * when its bootstrap host is the one that died.
 */
export class Reconnect {
  readonly #init: ReconnectInit
  readonly #loop: Loop

  constructor(init: ReconnectInit) {
    this.#init = init
    this.#loop = new Loop({ name: 'reconnect', intervalMs: init.intervalMs, clock: init.clock, log: init.log }, (signal) => this.tick(signal))
  }

  start(): void {
    this.#loop.start(false)
  }

  async stop(): Promise<void> {
    await this.#loop.stop()
  }

  async tick(signal: AbortSignal): Promise<void> {
    const { connected, minPeers, bootstrap, known, dial, log } = this.#init
    if (connected() >= minPeers) return
    const known8 = shuffle(known()).slice(0, 8)
    const targets = [...new Set([...bootstrap, ...known8])]
    if (targets.length === 0) return
    log.debug({ connected: connected(), targets: targets.length }, 'few connections: dialing bootstrap and known peers')
    await Promise.allSettled(
      targets.map((addr) =>
        dial(addr, AbortSignal.any([signal, AbortSignal.timeout(10_000)])).catch((err) => {
          log.debug({ addr, err: errorMessage(err) }, 'reconnect dial failed')
        }),
      ),
    )
  }
}

function shuffle<T>(a: T[]): T[] {
  const out = [...a]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}
