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
  /**
   * Peers known from health gossip that are not up and not connected now, each as its addresses ending in
   * /p2p/<peerId>. A few are dialled every tick (with a per-peer backoff), so the two sides of a healed
   * partition find each other again even when each side has plenty of connections of its own.
   */
  lost(): { peerId: string; addrs: string[] }[]
  /** Below this many connections the loop dials. */
  minPeers: number
  /**
   * Above this many connections the loop closes idle ones (libp2p's own limit,
   * maxConnections, refuses new inbound connections once reached, so a node
   * that filled up to it could no longer take a newcomer; this keeps it below).
   */
  targetPeers: number
  /** Open connections, one per peer, with what the trimming needs to know. */
  connections(): Promise<ConnectionFacts[]>
  /** Closes every connection to this peer. */
  close(peerId: string, signal: AbortSignal): Promise<void>
  intervalMs: number
  clock: Clock
  log: Logger
}

/** A connection as trimming sees it. */
export interface ConnectionFacts {
  peerId: string
  /** How long the oldest connection to this peer has been open. */
  ageMs: number
  /**
   * Leave it open: the peer is in our gossipsub mesh for a topic, libp2p keeps it alive (the DHT's closest
   * peers), or a stream other than gossip, DHT, identify or ping is open (a transfer).
   */
  keep: boolean
}

/**
 * Keeps a node in the mesh, with between minPeers and targetPeers connections.
 * libp2p's bootstrap dials once at start: a node
 * whose dials failed then (its bootstrap host busy, restarting, or gone), or
 * that lost every connection later (a partition, a network blip), would stay
 * alone. While it has fewer than `minPeers` connections, this loop dials the
 * bootstrap list and a few peers it knew before, so a cluster also re-forms
 * when its bootstrap host is the one that died.
 */
export class Reconnect {
  readonly #init: ReconnectInit
  readonly #loop: Loop
  /** peerId -> when it may be dialled again, and the backoff that follows */
  readonly #backoff = new Map<string, { at: number; ms: number }>()

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
    await Promise.all([this.#redialLost(signal), this.#refill(signal), this.#trim(signal)])
  }

  /**
   * Closes connections above targetPeers, a few per tick: never one to a
   * gossip mesh peer or one carrying a transfer, never one younger than
   * TRIM_MIN_AGE_MS (a newcomer needs time to join the gossip mesh), oldest first.
   */
  async #trim(signal: AbortSignal): Promise<void> {
    const { connected, connections, targetPeers, close, log } = this.#init
    // the cheap count first: connections() reads the peer store for every idle peer
    if (connected() <= targetPeers) return
    const all = await connections()
    const excess = all.length - targetPeers
    if (excess <= 0) return
    const victims = all
      .filter((c) => !c.keep && c.ageMs >= TRIM_MIN_AGE_MS)
      .sort((a, b) => b.ageMs - a.ageMs)
      .slice(0, Math.min(excess, TRIM_PER_TICK))
    if (victims.length === 0) return
    log.debug({ connected: all.length, targetPeers, closing: victims.length }, 'more connections than targetPeers: closing idle ones')
    await Promise.allSettled(victims.map((c) => close(c.peerId, signal)))
  }

  async #redialLost(signal: AbortSignal): Promise<void> {
    const { lost, dial, clock, log } = this.#init
    const now = clock.now()
    const due = shuffle(lost().filter((p) => p.addrs.length > 0 && (this.#backoff.get(p.peerId)?.at ?? 0) <= now)).slice(0, LOST_PER_TICK)
    await Promise.allSettled(
      due.map(async (p) => {
        const prev = this.#backoff.get(p.peerId)
        const ms = Math.min(LOST_BACKOFF_MAX_MS, prev == null ? LOST_BACKOFF_MS : prev.ms * 2)
        this.#backoff.set(p.peerId, { at: now + ms, ms })
        for (const addr of p.addrs) {
          try {
            await dial(addr, AbortSignal.any([signal, AbortSignal.timeout(5_000)]))
            this.#backoff.delete(p.peerId)
            log.debug({ peer: p.peerId, addr }, 'redialled a lost peer')
            return
          } catch {
            // next address
          }
        }
      }),
    )
  }

  async #refill(signal: AbortSignal): Promise<void> {
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

/** Connections closed per tick at most when above targetPeers, and the age below which none is. */
const TRIM_PER_TICK = 8
const TRIM_MIN_AGE_MS = 30_000

/** Lost peers dialled per tick at most, and their backoff (doubling up to the maximum). */
const LOST_PER_TICK = 3
const LOST_BACKOFF_MS = 10_000
const LOST_BACKOFF_MAX_MS = 300_000

function shuffle<T>(a: T[]): T[] {
  const out = [...a]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}
