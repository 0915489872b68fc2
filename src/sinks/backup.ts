import type { LocalFile } from '../catalog/local-manifest.js'
import type { ResolvedPolicy } from '../config/policies.js'
import type { Kind } from '../config/schema.js'
import type { NodeFacts } from '../replication/placement.js'
import type { EventLog } from '../state/event-log.js'
import type { RateLimiter } from '../transfer/rate-limiter.js'
import type { Clock } from '../util/clock.js'
import { errorMessage, isAbort } from '../util/errors.js'
import type { Logger } from '../util/log.js'
import { Loop } from '../util/loop.js'
import { type BlobMeta, type Sink, SinkError } from './index.js'
import type { SinkCopyStore } from './store.js'
import { uploadStream } from './upload-stream.js'
import { chooseUploader, sinksFor } from './uploader.js'
import { verifySinkCopy } from './verify.js'

export interface BackupInit {
  self: string
  sinks: ReadonlyMap<string, Sink>
  store: SinkCopyStore
  /** This node's verified local files. */
  files(): Iterable<LocalFile>
  /** Where a local file's served bytes are (the snapshot for a live SQLite db). */
  localPath(f: LocalFile): string
  policyFor(path: string, kind: Kind): Pick<ResolvedPolicy, 'backup' | 'backupCopies' | 'backupMinAgeSeconds' | 'backupMaxSize' | 'priority'>
  /** Holders of a content hash (gossiped manifests, this node included). */
  holders(sha256: string): readonly string[]
  nodes(): ReadonlyMap<string, NodeFacts>
  /** Called at the start of each tick (the node refreshes its plan there, so holders() is read from one snapshot). */
  refresh?(): void
  /** Runs at the end of each tick (the node restores files no live node holds there). */
  after?(signal: AbortSignal): Promise<void>
  limiter?: RateLimiter
  weight(priority: string): number
  events: EventLog
  clock: Clock
  log: Logger
  intervalMs: number
  verifyMaxAgeMs: number
  /** 0: never re-download. */
  rehashIntervalMs: number
  backoffBaseMs: number
  backoffMaxMs: number
}

export interface SinkStatus {
  name: string
  type: 's3' | 'path'
  reachable: boolean
  /** Why not (credentials, bucket, unreachable, throttled, unmounted, full...). */
  reason?: string
  error?: string
  failures: number
  nextProbeMs: number
  uploaded: number
  bytesUploaded: number
}

/**
 * The backup loop: for every local file whose policy names sinks, the node
 * chosen from gossiped facts (chooseUploader) uploads it once, then reads
 * back its size and stored checksum, and on a schedule re-downloads and
 * re-hashes it. The other holders only read back the size and checksum, so
 * each knows whether the sink copy counts. Nothing is recorded as verified
 * that was not read back; a failed check makes the copy stop counting and the
 * uploader uploads it again. An unreachable sink is retried with backoff.
 */
export class BackupLoop {
  readonly #init: BackupInit
  readonly #loop: Loop
  readonly #status = new Map<string, SinkStatus>()
  /** `sink/sha256` -> when a holder that is not the uploader last found no verified copy (so it does not ask every tick). */
  readonly #missingAt = new Map<string, number>()

  constructor(init: BackupInit) {
    this.#init = init
    for (const [name, s] of init.sinks) this.#status.set(name, { name, type: s.type, reachable: false, failures: 0, nextProbeMs: 0, uploaded: 0, bytesUploaded: 0 })
    this.#loop = new Loop({ name: 'backup', intervalMs: init.intervalMs, clock: init.clock, log: init.log }, (signal) => this.run(signal))
  }

  start(): void {
    if (this.#init.sinks.size > 0) this.#loop.start(true)
  }

  async stop(): Promise<void> {
    await this.#loop.stop()
  }

  poke(): void {
    this.#loop.poke()
  }

  /** Sinks this node can reach now (its health says so). */
  reachable(): string[] {
    return [...this.#status.values()].filter((s) => s.reachable).map((s) => s.name).sort()
  }

  status(): SinkStatus[] {
    return [...this.#status.values()].map((s) => ({ ...s }))
  }

  async run(signal: AbortSignal): Promise<void> {
    const now = this.#init.clock.now()
    for (const [name, sink] of this.#init.sinks) {
      const st = this.#status.get(name)!
      if (st.reachable || st.nextProbeMs > now) continue
      try {
        await sink.probe({ signal })
        if (st.failures > 0) this.#init.log.info({ sink: name }, 'sink reachable again')
        Object.assign(st, { reachable: true, reason: undefined, error: undefined, failures: 0, nextProbeMs: 0 })
      } catch (err) {
        if (isAbort(err)) return
        this.#down(st, err, undefined)
      }
    }
    this.#init.refresh?.()
    const nodes = this.#init.nodes()
    for (const f of this.#init.files()) {
      if (signal.aborted) return
      const policy = this.#init.policyFor(f.path, f.kind)
      if (policy.backup.length === 0) continue
      if (policy.backupMaxSize != null && f.size > policy.backupMaxSize) continue
      if (policy.backupMinAgeSeconds != null && now - f.mtimeMs < policy.backupMinAgeSeconds * 1000) continue
      for (const name of sinksFor(f.sha256, policy.backup, policy.backupCopies)) {
        const sink = this.#init.sinks.get(name)
        const st = this.#status.get(name)
        if (sink == null || st == null || !st.reachable) continue
        const uploader = chooseUploader(f.sha256, name, this.#init.holders(f.sha256), nodes, f.origin) === this.#init.self
        try {
          await this.#one(sink, st, f, uploader, policy.priority, signal)
        } catch (err) {
          if (isAbort(err) || signal.aborted) return
          this.#down(st, err, f)
        }
      }
    }
    if (!signal.aborted) await this.#init.after?.(signal)
  }

  async #one(sink: Sink, st: SinkStatus, f: LocalFile, uploader: boolean, priority: string, signal: AbortSignal): Promise<void> {
    const { store, clock, events } = this.#init
    const meta: BlobMeta = { sha256: f.sha256, size: f.size, kind: f.kind, chunkRoot: f.chunkRoot }
    const now = clock.now()
    const rec = store.get(sink.name, f.sha256)
    const fresh = rec?.state === 'verified' && now - rec.verifiedMs <= this.#init.verifyMaxAgeMs / 2
    // the uploader re-hashes on its schedule, and always after a failed check (the metadata of a corrupt object still matches)
    const rehashDue =
      uploader && (rec?.state === 'failed' || (rec?.state === 'verified' && this.#init.rehashIntervalMs > 0 && now - Math.max(rec.rehashedMs, rec.uploadedMs) >= this.#init.rehashIntervalMs))
    const key = `${sink.name}/${f.sha256}`
    if (!uploader && rec == null && now - (this.#missingAt.get(key) ?? -Infinity) < Math.max(60_000, 4 * this.#init.intervalMs)) return
    if (!fresh || rehashDue) {
      const v = await verifySinkCopy(sink, meta, { rehash: rehashDue, signal })
      if (!v.ok && !uploader) this.#missingAt.set(key, now)
      else this.#missingAt.delete(key)
      if (v.ok) {
        store.verified(sink.name, f.sha256, f.size, clock.now(), { rehashed: v.rehashed })
      } else {
        if (rec?.state === 'verified') {
          events.emit('backup_failed', { sha256: f.sha256, path: f.path, sink: sink.name, reason: v.reason, detected: 'verification' })
        }
        if (rec != null) store.failed(sink.name, f.sha256, f.size, clock.now(), v.reason)
        if (!uploader) return
        try {
          await this.#upload(sink, st, f, meta, priority, signal)
        } catch (err) {
          // could not replace it: a blob that failed its re-hash is removed, so no holder counts it from its metadata
          if (v.rehashed) await sink.remove(f.sha256, { signal })
          throw err
        }
      }
    }
    if (uploader && store.get(sink.name, f.sha256)?.state === 'verified' && !store.indexed(sink.name, f.path, f.version, f.sha256)) {
      await sink.putIndex(f, { signal })
      store.markIndexed(sink.name, f.path, f.version, f.sha256)
    }
  }

  async #upload(sink: Sink, st: SinkStatus, f: LocalFile, meta: BlobMeta, priority: string, signal: AbortSignal): Promise<void> {
    const { store, clock, events } = this.#init
    const started = clock.now()
    const body = await uploadStream(this.#init.localPath(f), f, { limiter: this.#init.limiter, flow: `sink:${sink.name}`, weight: this.#init.weight(priority), signal })
    await sink.put(meta, body, { signal })
    const v = await verifySinkCopy(sink, meta, { rehash: false, signal })
    if (!v.ok) {
      store.failed(sink.name, f.sha256, f.size, clock.now(), v.reason)
      events.emit('backup_failed', { sha256: f.sha256, path: f.path, sink: sink.name, reason: v.reason, detected: 'after upload' })
      return
    }
    store.verified(sink.name, f.sha256, f.size, clock.now(), { uploaded: true })
    st.uploaded++
    st.bytesUploaded += f.size
    events.emit('backup_completed', { sha256: f.sha256, path: f.path, size: f.size, sink: sink.name, ms: clock.now() - started })
  }

  #down(st: SinkStatus, err: unknown, f: LocalFile | undefined): void {
    const reason = err instanceof SinkError ? err.reason : 'other'
    const message = errorMessage(err)
    // a file that cannot be read (rotted since verified) is that file's problem, not the sink's
    if (!(err instanceof SinkError) && f != null) {
      this.#init.events.emit('backup_failed', { sha256: f.sha256, path: f.path, sink: st.name, reason: message })
      return
    }
    const wasUp = st.reachable || st.failures === 0
    st.failures++
    st.reachable = false
    st.reason = reason
    st.error = message
    st.nextProbeMs = this.#init.clock.now() + Math.min(this.#init.backoffMaxMs, this.#init.backoffBaseMs * 2 ** Math.min(20, st.failures - 1))
    if (wasUp || f != null) {
      this.#init.events.emit('backup_failed', { sink: st.name, reason, error: message, ...(f != null ? { sha256: f.sha256, path: f.path } : {}) })
    }
    this.#init.log.warn({ sink: st.name, reason, err: message, retryInMs: st.nextProbeMs - this.#init.clock.now() }, 'sink failed; backing off')
  }
}
