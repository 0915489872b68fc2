import { TopicValidatorResult, type GossipSub } from '@libp2p/gossipsub'
import type { Message } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import { decodeHealth, encodeHealth, HEALTH_TOPIC, type HealthReport } from '../../protocols/health/index.js'
import { decodeDelta, encodeDelta, MANIFEST_TOPIC, type ManifestSync } from '../../protocols/manifest/index.js'
import type { Metrics } from '../api/metrics.js'
import type { LocalManifest } from '../catalog/local-manifest.js'
import type { ClusterView } from '../cluster/view.js'
import type { EventLog } from '../state/event-log.js'
import type { Clock } from '../util/clock.js'
import { errorMessage, InvalidMessageError } from '../util/errors.js'
import type { Logger } from '../util/log.js'
import { Loop } from '../util/loop.js'

export interface GossipInit {
  pubsub: GossipSub
  manifestSync: ManifestSync
  manifest: LocalManifest
  view: ClusterView
  events: EventLog
  metrics: Metrics
  clock: Clock
  log: Logger
  maxDeltaEntries: number
  /** Builds this node's health report (seq is filled in here). */
  health: () => Omit<HealthReport, 'seq' | 'timeMs'>
  healthIntervalMs: number
  /** First health seq of this run: boot epoch << 32, so seqs keep rising across restarts. */
  healthSeqBase: number
  /** Told when a peer's manifest changed (for the planner). */
  onPeerManifest?: (peerId: string) => void
  onPeerHealth?: (peerId: string, h: HealthReport) => void
}

/** How long to wait before pulling the same peer's manifest again. */
const SYNC_RETRY_MS = 3000
const SYNC_CONCURRENCY = 2

/**
 * Manifest and health gossip. Publishes this node's manifest deltas as they
 * happen and its health on a timer; validates every message through
 * gossipsub's validator (invalid ones are rejected, so the sender's score
 * drops); applies them to the cluster view; and pulls a peer's whole
 * manifest when a delta is missing or its digest differs (anti-entropy).
 */
export class Gossip {
  readonly #init: GossipInit
  readonly #healthLoop: Loop
  readonly #deltaLoop: Loop
  readonly #syncLoop: Loop
  readonly #syncWanted = new Set<string>()
  readonly #syncing = new Set<string>()
  readonly #lastSync = new Map<string, number>()
  #healthSeq: number
  #unsubscribe: (() => void) | undefined
  /** Counters for tests and the API. */
  readonly stats = { invalid: 0, stale: 0, accepted: 0, published: 0, syncs: 0 }

  constructor(init: GossipInit) {
    this.#init = init
    this.#healthSeq = init.healthSeqBase
    const loop = { clock: init.clock, log: init.log }
    this.#healthLoop = new Loop({ ...loop, name: 'health', intervalMs: init.healthIntervalMs, jitter: 0.1 }, () => this.publishHealth())
    this.#deltaLoop = new Loop({ ...loop, name: 'manifest-deltas', intervalMs: 1000, jitter: 0 }, () => this.#publishDeltas())
    this.#syncLoop = new Loop({ ...loop, name: 'anti-entropy', intervalMs: 5000, jitter: 0.2 }, (signal) => this.#syncSome(signal))
  }

  start(): void {
    const { pubsub } = this.#init
    pubsub.topicValidators.set(MANIFEST_TOPIC, (_peer, msg) => this.#validate(msg, 'manifest'))
    pubsub.topicValidators.set(HEALTH_TOPIC, (_peer, msg) => this.#validate(msg, 'health'))
    const onMessage = (evt: CustomEvent<Message>): void => this.#onMessage(evt.detail)
    pubsub.addEventListener('message', onMessage)
    pubsub.subscribe(MANIFEST_TOPIC)
    pubsub.subscribe(HEALTH_TOPIC)
    const off = this.#init.manifest.onChange(() => this.#deltaLoop.poke())
    this.#unsubscribe = () => {
      pubsub.removeEventListener('message', onMessage)
      off()
    }
    this.#healthLoop.start()
    this.#deltaLoop.start()
    this.#syncLoop.start(false)
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.()
    await Promise.all([this.#healthLoop.stop(), this.#deltaLoop.stop(), this.#syncLoop.stop()])
    const { pubsub } = this.#init
    pubsub.topicValidators.delete(MANIFEST_TOPIC)
    pubsub.topicValidators.delete(HEALTH_TOPIC)
  }

  /** Publishes health now (also called on important changes). */
  async publishHealth(): Promise<void> {
    const report: HealthReport = { ...this.#init.health(), seq: ++this.#healthSeq, timeMs: this.#init.clock.now() }
    await this.#publish(HEALTH_TOPIC, encodeHealth(report))
  }

  /** Asks for a health message soon (disk level, backpressure or evacuation changed). */
  pokeHealth(): void {
    this.#healthLoop.poke()
  }

  /** Pulls `peerId`'s whole manifest now (tests, and the CLI's resync). */
  async syncPeer(peerId: string, signal?: AbortSignal): Promise<void> {
    const { view, manifestSync, metrics } = this.#init
    this.#syncing.add(peerId)
    this.#lastSync.set(peerId, this.#init.clock.now())
    try {
      const m = await manifestSync.fetchManifest(peerIdFromString(peerId), { signal })
      view.replaceManifest(peerId, m.seq, m.entries)
      this.stats.syncs++
      metrics.antiEntropy.inc({ result: 'ok' })
      this.#init.log.debug({ peer: peerId, entries: m.entries.length, seq: m.seq }, 'manifest pulled')
      this.#init.onPeerManifest?.(peerId)
    } catch (err) {
      metrics.antiEntropy.inc({ result: 'failed' })
      if (err instanceof InvalidMessageError) this.#invalid(peerId, 'manifest-sync', err)
      throw err
    } finally {
      this.#syncing.delete(peerId)
    }
  }

  async #publishDeltas(): Promise<void> {
    const deltas = this.#init.manifest.takeDeltas(this.#init.maxDeltaEntries, this.#init.clock.now())
    for (const d of deltas) await this.#publish(MANIFEST_TOPIC, encodeDelta(d))
  }

  async #publish(topic: string, data: Uint8Array): Promise<void> {
    try {
      await this.#init.pubsub.publish(topic, data)
      this.stats.published++
      this.#init.metrics.gossipPublished.inc({ topic })
    } catch (err) {
      // no peers yet, or the node is stopping: health carries the manifest seq, peers catch up
      this.#init.log.debug({ topic, err: errorMessage(err) }, 'publish failed')
    }
  }

  #validate(msg: Message, kind: 'manifest' | 'health'): TopicValidatorResult {
    if (msg.type !== 'signed') {
      this.#invalid(undefined, kind, new InvalidMessageError('unsigned message'))
      return TopicValidatorResult.Reject
    }
    const from = msg.from.toString()
    try {
      if (kind === 'health') {
        const h = decodeHealth(msg.data)
        const p = this.#init.view.get(from)
        if (p != null && h.seq <= p.healthSeq) return this.#stale(kind)
      } else {
        const d = decodeDelta(msg.data)
        const p = this.#init.view.get(from)
        if (p != null && d.seq <= p.manifestSeq) return this.#stale(kind)
      }
      return TopicValidatorResult.Accept
    } catch (err) {
      this.#invalid(from, kind, err as Error)
      return TopicValidatorResult.Reject
    }
  }

  #stale(kind: string): TopicValidatorResult {
    this.stats.stale++
    this.#init.metrics.gossipMessages.inc({ topic: kind, result: 'stale' })
    return TopicValidatorResult.Ignore
  }

  #invalid(peer: string | undefined, kind: string, err: Error): void {
    this.stats.invalid++
    this.#init.metrics.gossipMessages.inc({ topic: kind, result: 'invalid' })
    this.#init.log.warn({ peer, kind, err: err.message }, 'invalid message rejected')
    this.#init.events.emit('invalid_message', { peer, topic: kind, reason: err.message.slice(0, 300) })
  }

  #onMessage(msg: Message): void {
    if (msg.type !== 'signed') return
    const from = msg.from.toString()
    const { view } = this.#init
    try {
      if (msg.topic === HEALTH_TOPIC) {
        const h = decodeHealth(msg.data)
        if (!view.applyHealth(from, h)) return
        this.#accepted('health')
        this.#init.onPeerHealth?.(from, h)
        if (view.needsSync(from)) this.#wantSync(from)
      } else if (msg.topic === MANIFEST_TOPIC) {
        const d = decodeDelta(msg.data)
        const result = view.applyDelta(from, d)
        if (result === 'stale') return
        this.#accepted('manifest')
        if (result === 'gap') this.#wantSync(from)
        else this.#init.onPeerManifest?.(from)
      }
    } catch (err) {
      // validators ran already; anything here is a bug in applying, not the peer's fault
      this.#init.log.error({ peer: from, topic: msg.topic, err: errorMessage(err) }, 'could not apply gossip message')
    }
  }

  #accepted(topic: string): void {
    this.stats.accepted++
    this.#init.metrics.gossipMessages.inc({ topic, result: 'accepted' })
  }

  #wantSync(peerId: string): void {
    this.#syncWanted.add(peerId)
    this.#syncLoop.poke()
  }

  async #syncSome(signal: AbortSignal): Promise<void> {
    const now = this.#init.clock.now()
    // peers whose digest still differs (a delta lost, or we restarted)
    for (const p of this.#init.view.peers()) {
      if (p.state !== 'down' && this.#init.view.needsSync(p.peerId)) this.#syncWanted.add(p.peerId)
    }
    const due = [...this.#syncWanted].filter((p) => !this.#syncing.has(p) && now - (this.#lastSync.get(p) ?? 0) >= SYNC_RETRY_MS)
    const batch = due.slice(0, SYNC_CONCURRENCY)
    for (const p of batch) this.#syncWanted.delete(p)
    await Promise.all(
      batch.map((p) =>
        this.syncPeer(p, signal).catch((err) => {
          this.#syncWanted.add(p)
          this.#init.log.debug({ peer: p, err: errorMessage(err) }, 'manifest pull failed; will retry')
        }),
      ),
    )
    if (this.#syncWanted.size > 0) this.#syncLoop.pokeIn(SYNC_RETRY_MS)
  }
}
