import { existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { peerIdFromString } from '@libp2p/peer-id'
import { resolveLayers } from '../../src/config/load.js'
import { MeshsyncNode } from '../../src/node.js'
import { layoutOf } from '../../src/node/layout.js'
import type { MeshsyncEvent } from '../../src/state/event-log.js'
import { createLogger, silentLogger } from '../../src/util/log.js'
import { freePort, ProcessNode } from './process-node.js'
import { LatencyProxy } from './proxy.js'
import { localApiHeaders } from '../../src/api/key.js'

/**
 * Settings every simulated node starts with: the gossip and replication
 * timers of a small test cluster, so a run of minutes shows what takes a real
 * cluster longer. A scenario's `config` overrides any of them.
 */
export const SIM_BASE_SETTINGS: Record<string, unknown> = {
  'mesh.localCluster': true,
  'gossip.healthIntervalSeconds': 1,
  'gossip.suspectAfterSeconds': 3,
  'gossip.downAfterSeconds': 6,
  'catalog.stableSeconds': 0.5,
  'catalog.scanIntervalSeconds': 2,
  'catalog.ephemeralScanIntervalSeconds': 1,
  'replication.intervalSeconds': 1,
  'replication.downGraceSeconds': 10,
  'replication.ephemeralDownGraceSeconds': 5,
  'transfer.backoffBaseSeconds': 0.5,
  'transfer.backoffMaxSeconds': 5,
  'disk.minFree': 0,
  // every simulated node shares one machine: its load average (20+ on a 2-core host running other test suites)
  // says nothing of one node's load, and over the default 4 per core every node reports itself busy and nothing moves
  'replication.backpressureLoad': 1000,
  'log.level': 'warn',
}

/** What /status says (the fields the simulation reads). */
export interface StatusView {
  peerId: string
  addresses: string[]
  manifest: { seq: number; digest: string; files: number; bytes: number }
  disk: { total: number; free: number; usedFraction: number; level: string }
}

/** One entry of /files. */
export interface FileView {
  sha256: string
  path: string
  size: number
  kind: string
  origin: string
  holders: string[]
  holderNames: string[]
  local: boolean
  minCopies: number
  verifiedCopies: number
  promoted: boolean
}

/** One entry of /peers. */
export interface PeerView {
  peerId: string
  name?: string
  state: string
  manifestSeq: number
  files: number
}

/** Everything the observer reads from a live node at one sample. */
export interface Snapshot {
  status: StatusView
  files: FileView[]
  peers: PeerView[]
  /** meshsync_transfer_bytes_total by direction, since this incarnation started. */
  bytesIn: number
  bytesOut: number
}

export interface NodeIdentity {
  name: string
  role: string
  provider: string
  ephemeral: boolean
  tags: string[]
  dataDir: string
  latencyMs?: number
}

/**
 * One simulated node, whatever the mode: started, crashed, evacuated,
 * partitioned and observed through the node's public surface (its HTTP API
 * in processes and netns modes; the same read models in-process).
 */
export abstract class SimNode {
  readonly id: NodeIdentity
  peerId = ''
  /** How many times it was started. */
  incarnation = 0
  /**
   * In-process only: when this node first knew each file (Date.now()), from
   * the node's own catalog and cluster-view hooks: exact gossip latency.
   */
  readonly firstSeen = new Map<string, number>()
  /** Whether firstSeen is filled (in-process); else the observer's samples are used. */
  readonly precise: boolean = false
  #proxy: LatencyProxy | undefined
  #ports: { listen: number; proxy: number } | undefined

  constructor(id: NodeIdentity) {
    this.id = id
  }

  get name(): string {
    return this.id.name
  }

  get dataDir(): string {
    return this.id.dataDir
  }

  abstract get alive(): boolean
  abstract get addresses(): string[]
  /** Starts (or restarts) the node with these settings on top of its spec. */
  abstract start(bootstrap: string[], settings: Record<string, unknown>): Promise<void>
  /** kill -9 (processes, netns); an abrupt stop in-process. */
  abstract crash(): Promise<void>
  /** Spot termination notice: evacuate within the deadline, then exit. */
  abstract terminate(deadlineMs: number): Promise<void>
  /** A plain stop at the end of the run. */
  abstract stop(): Promise<void>
  abstract block(peers: string[]): Promise<void>
  abstract unblock(peers?: string[]): Promise<void>
  abstract snapshot(): Promise<Snapshot>
  /** Events since the last call (a node's events survive its restarts in its state DB). */
  abstract drainEvents(): Promise<MeshsyncEvent[]>
  /** POST /promote {path}: the status and message. */
  abstract promote(path: string): Promise<{ status: number; message: string }>

  /** Settings the node config needs for its identity (name, role...). */
  protected identitySettings(): Record<string, unknown> {
    return { 'node.name': this.id.name, 'node.role': this.id.role, 'node.provider': this.id.provider, 'node.ephemeral': this.id.ephemeral, 'node.tags': this.id.tags }
  }

  /**
   * Listen and announce addresses: with added latency the node listens on a
   * fixed port and announces a proxy in front of it (the same ports on every
   * restart).
   */
  protected async addressing(host: string): Promise<{ listen: string[]; announce: string[] }> {
    if (this.id.latencyMs == null || this.id.latencyMs <= 0) return { listen: [`/ip4/${host}/tcp/0`], announce: [] }
    if (this.#ports == null) {
      this.#ports = { listen: await freePort(host), proxy: 0 }
      this.#proxy = await LatencyProxy.start({ host, target: { host, port: this.#ports.listen }, delayMs: this.id.latencyMs })
      this.#ports.proxy = this.#proxy.port
    }
    return { listen: [`/ip4/${host}/tcp/${this.#ports.listen}`], announce: [`/ip4/${host}/tcp/${this.#ports.proxy}`] }
  }

  async closeProxy(): Promise<void> {
    await this.#proxy?.close()
    this.#proxy = undefined
  }

  /** Forgets the identity: the next start makes a new peer ID (the data dir stays). */
  async dropIdentity(): Promise<void> {
    await rm(layoutOf(this.dataDir).identity, { force: true })
  }
}

/** Many nodes in this process (scale: dozens of nodes on 2 cores). */
export class InProcessNode extends SimNode {
  override readonly precise = true
  node: MeshsyncNode | undefined
  #events: MeshsyncEvent[] = []
  #off: (() => void) | undefined
  readonly #verbose: string | undefined

  constructor(id: NodeIdentity, verbose?: string) {
    super(id)
    this.#verbose = verbose
  }

  get alive(): boolean {
    return this.node != null
  }

  get addresses(): string[] {
    return this.node?.addresses ?? []
  }

  async start(bootstrap: string[], settings: Record<string, unknown>): Promise<void> {
    if (this.node != null) throw new Error(`${this.name} is already running`)
    const { listen, announce } = await this.addressing('127.0.0.1')
    const config = resolveLayers(
      [{ source: `simulation (${this.name})`, values: { ...SIM_BASE_SETTINGS, ...settings, ...this.identitySettings(), dataDir: this.dataDir, listen, announce, 'api.listen': '127.0.0.1:0', bootstrap } }],
      { cwd: process.cwd() },
    )
    const log = this.#verbose != null ? createLogger({ level: this.#verbose as 'info', name: this.name }) : silentLogger
    const node = new MeshsyncNode({ config, log })
    await node.start()
    this.node = node
    this.peerId = node.peerId
    this.incarnation++
    const offEvents = node.events.subscribe((e) => this.#events.push(e))
    const seen = (sha: string) => {
      if (!this.firstSeen.has(sha)) this.firstSeen.set(sha, Date.now())
    }
    const offEntry = node.view.onEntry((_peer, e) => seen(e.sha256))
    const offManifest = node.manifest.onChange((e, removed) => {
      if (!removed) seen(e.sha256)
    })
    this.#off = () => {
      offEvents()
      offEntry()
      offManifest()
    }
  }

  async #halt(): Promise<void> {
    const n = this.node
    if (n == null) return
    this.node = undefined
    this.#off?.()
    await n.stop().catch(() => {})
  }

  crash(): Promise<void> {
    return this.#halt()
  }

  async terminate(deadlineMs: number): Promise<void> {
    const n = this.node
    if (n == null) return
    await n.evacuate(deadlineMs).catch(() => {})
    await this.#halt()
  }

  stop(): Promise<void> {
    return this.#halt()
  }

  async block(peers: string[]): Promise<void> {
    const n = this.node
    if (n == null) return
    n.gater.block(peers)
    await Promise.all(peers.map((p) => n.mesh.hangUp(peerIdFromString(p)).catch(() => {})))
  }

  async unblock(peers?: string[]): Promise<void> {
    this.node?.gater.unblock(peers)
  }

  async snapshot(): Promise<Snapshot> {
    const n = this.node
    if (n == null) throw new Error(`${this.name} is not running`)
    const rm = n.readModels
    const counter = await n.metrics.transferBytes.get()
    const sum = (dir: string) => counter.values.filter((v) => v.labels.direction === dir).reduce((a, v) => a + v.value, 0)
    return {
      status: rm.status() as unknown as StatusView,
      files: rm.files() as unknown as FileView[],
      peers: rm.peers() as unknown as PeerView[],
      bytesIn: sum('in'),
      bytesOut: sum('out'),
    }
  }

  async drainEvents(): Promise<MeshsyncEvent[]> {
    const out = this.#events
    this.#events = []
    return out
  }

  async promote(path: string): Promise<{ status: number; message: string }> {
    const n = this.node
    if (n == null) return { status: 503, message: `${this.name} is not running` }
    return httpPost(n.apiAddress!, '/promote', { path })
  }
}

/**
 * The compiled node entry: the real CLI plus the partition control channel.
 * From the TypeScript sources (vitest) it is the one in dist/: build first.
 */
function entryScript(): string {
  const here = fileURLToPath(import.meta.url)
  const compiled = here.endsWith('.ts') ? join(dirname(here), '..', '..', 'dist', 'sim', 'harness', 'node-entry.js') : join(dirname(here), 'node-entry.js')
  if (!existsSync(compiled)) throw new Error(`${compiled} is missing: processes and netns modes run the compiled node; build first (tools/node24 npm run build)`)
  return compiled
}

/** One OS process per node (kill -9, real restarts); in netns mode, inside the node's own network namespace. */
export class ProcNode extends SimNode {
  proc: ProcessNode | undefined
  #cursor = 0
  readonly #host: string
  readonly #wrap: string[] | undefined
  readonly #logFile: string

  constructor(id: NodeIdentity, o: { host?: string; wrap?: string[]; logFile: string }) {
    super(id)
    this.#host = o.host ?? '127.0.0.1'
    this.#wrap = o.wrap
    this.#logFile = o.logFile
  }

  get alive(): boolean {
    return this.proc?.running === true
  }

  get addresses(): string[] {
    return this.alive ? (this.proc?.addresses ?? []) : []
  }

  async start(bootstrap: string[], settings: Record<string, unknown>): Promise<void> {
    if (this.alive) throw new Error(`${this.name} is already running`)
    const { listen, announce } = await this.addressing(this.#host)
    this.proc = await ProcessNode.start({
      name: this.name,
      dataDir: this.dataDir,
      bootstrap,
      settings: { ...SIM_BASE_SETTINGS, ...settings, ...this.identitySettings() },
      logFile: this.#logFile,
      wrap: this.#wrap,
      listen,
      announce,
      apiHost: this.#host,
      apiPort: this.#host === '127.0.0.1' ? undefined : 8420,
      entry: entryScript(),
      ipc: true,
      startTimeoutMs: 60_000,
    })
    this.peerId = this.proc.peerId
    this.incarnation++
  }

  async crash(): Promise<void> {
    const p = this.proc
    if (p == null || !p.running) return
    p.kill()
    await p.exited
  }

  async terminate(deadlineMs: number): Promise<void> {
    const p = this.proc
    if (p == null || !p.running) return
    // the CLI evacuates on SIGTERM within replication.evacuationDeadlineSeconds; a second SIGTERM after the deadline stops it
    p.child.kill('SIGTERM')
    const t = setTimeout(() => p.child.kill('SIGTERM'), deadlineMs)
    const k = setTimeout(() => p.kill(), deadlineMs + 15_000)
    await p.exited
    clearTimeout(t)
    clearTimeout(k)
  }

  async stop(): Promise<void> {
    await this.proc?.stop(15_000)
  }

  async block(peers: string[]): Promise<void> {
    if (this.alive) await this.proc!.request('block', { peers })
  }

  async unblock(peers?: string[]): Promise<void> {
    if (this.alive) await this.proc!.request('unblock', { peers })
  }

  async snapshot(): Promise<Snapshot> {
    const p = this.proc
    if (p == null || !p.running) throw new Error(`${this.name} is not running`)
    const [status, files, peers, metrics] = await Promise.all([
      p.get<StatusView>('/status'),
      p.get<FileView[]>('/files'),
      p.get<PeerView[]>('/peers'),
      fetch(`http://${p.api}/metrics`, { headers: localApiHeaders(p.api), signal: AbortSignal.timeout(10_000) }).then((r) => r.text()),
    ])
    return { status, files, peers, bytesIn: metricSum(metrics, 'in'), bytesOut: metricSum(metrics, 'out') }
  }

  async drainEvents(): Promise<MeshsyncEvent[]> {
    const p = this.proc
    if (p == null || !p.running) return []
    const out: MeshsyncEvent[] = []
    for (;;) {
      const batch = await p.get<MeshsyncEvent[]>(`/events?since=${this.#cursor}&limit=5000`)
      if (batch.length === 0) break
      // the API returns the newest `limit` after the cursor: page forward from the oldest we have not seen
      out.push(...batch)
      this.#cursor = batch[batch.length - 1]!.id
      if (batch.length < 5000) break
    }
    return out
  }

  async promote(path: string): Promise<{ status: number; message: string }> {
    const p = this.proc
    if (p == null || !p.running) return { status: 503, message: `${this.name} is not running` }
    return httpPost(p.api, '/promote', { path })
  }
}

function metricSum(text: string, direction: string): number {
  let n = 0
  const re = new RegExp(`^meshsync_transfer_bytes_total\\{[^}]*direction="${direction}"[^}]*\\}\\s+([0-9.e+]+)`, 'gm')
  for (const m of text.matchAll(re)) n += Number(m[1])
  return n
}

async function httpPost(api: string, path: string, body: unknown): Promise<{ status: number; message: string }> {
  try {
    const res = await fetch(`http://${api}${path}`, { method: 'POST', headers: localApiHeaders(api), body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) })
    const text = await res.text()
    return { status: res.status, message: text.slice(0, 300) }
  } catch (err) {
    return { status: 0, message: (err as Error).message }
  }
}
