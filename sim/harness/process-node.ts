import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { dirname, join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { localApiHeaders } from '../../src/api/key.js'

/**
 * The compiled CLI entry: next to this file when it runs from dist/, or in
 * dist/ when it runs from source (tests; `npm run build` first).
 */
const HERE = dirname(fileURLToPath(import.meta.url))
/** The compiled CLI (bin.js). */
export const CLI = HERE.includes(`${sep}dist${sep}`)
  ? join(HERE, '..', '..', 'src', 'cli', 'bin.js')
  : join(HERE, '..', '..', 'dist', 'src', 'cli', 'bin.js')

export interface ProcessNodeOptions {
  name: string
  dataDir: string
  bootstrap?: string[]
  /** Config keys and values, passed as --set key=value. */
  settings?: Record<string, unknown>
  /** Where the node's structured log goes (default: discarded). */
  logFile?: string
  /** Extra command prefix, e.g. ['ip', 'netns', 'exec', 'ns1'] in netns mode. */
  wrap?: string[]
  listenHost?: string
  apiPort?: number
  /** Host the HTTP API listens on (default 127.0.0.1; the node's own address in netns mode). */
  apiHost?: string
  /** Listen multiaddrs instead of /ip4/<listenHost>/tcp/0. */
  listen?: string[]
  /** Addresses to announce instead of the listen addresses (e.g. a latency proxy in front). */
  announce?: string[]
  /**
   * The script to run instead of the compiled CLI (same arguments). The
   * simulation uses sim/harness/node-entry.js: the real CLI plus a control
   * channel for partitions.
   */
  entry?: string
  /** Open an IPC channel to the child (for `request`). */
  ipc?: boolean
  /** How long to wait for the API to answer (default 30 s). */
  startTimeoutMs?: number
}

/** A free TCP port on loopback (closed again at once). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, host, () => {
      const a = s.address()
      const port = typeof a === 'object' && a != null ? a.port : 0
      s.close(() => resolve(port))
    })
  })
}

/** One meshsync node as its own OS process (kill -9 and real restarts). */
export class ProcessNode {
  readonly name: string
  readonly api: string
  readonly child: ChildProcess
  peerId = ''
  addresses: string[] = []
  readonly #exit: Promise<number | null>
  #nextRequest = 1
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()

  private constructor(name: string, api: string, child: ChildProcess) {
    this.name = name
    this.api = api
    this.child = child
    this.#exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
    child.on('message', (m: { id?: number; ok?: boolean; error?: string; result?: unknown }) => {
      const p = m.id != null ? this.#pending.get(m.id) : undefined
      if (p == null) return
      this.#pending.delete(m.id!)
      if (m.ok === true) p.resolve(m.result)
      else p.reject(new Error(`${name}: ${m.error ?? 'request failed'}`))
    })
    child.once('exit', () => {
      for (const p of this.#pending.values()) p.reject(new Error(`${name} exited`))
      this.#pending.clear()
    })
  }

  /** A request over the IPC channel (needs `ipc: true` and an entry that answers, see node-entry.ts). */
  request<T>(op: string, args: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<T> {
    if (this.child.exitCode != null || this.child.signalCode != null || !this.child.connected) return Promise.reject(new Error(`${this.name} is not running`))
    const id = this.#nextRequest++
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => {
        this.#pending.delete(id)
        reject(new Error(`${this.name}: ${op} got no answer within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(t)
          resolve(v as T)
        },
        reject: (e) => {
          clearTimeout(t)
          reject(e)
        },
      })
      // the child can die between the check above and this write (a kill -9 at the moment of a partition): with a
      // callback that is this request's failure (EPIPE), not an unhandled 'error' event that ends the whole run
      this.child.send({ id, op, ...args }, (err) => {
        if (err == null) return
        this.#pending.get(id)?.reject(new Error(`${this.name}: ${op} could not be sent (${err.message})`))
        this.#pending.delete(id)
      })
    })
  }

  get running(): boolean {
    return this.child.exitCode == null && this.child.signalCode == null
  }

  get pid(): number {
    return this.child.pid ?? 0
  }

  get exited(): Promise<number | null> {
    return this.#exit
  }

  static async start(o: ProcessNodeOptions): Promise<ProcessNode> {
    const apiHost = o.apiHost ?? '127.0.0.1'
    const port = o.apiPort ?? (await freePort(apiHost === '127.0.0.1' ? apiHost : '0.0.0.0'))
    const api = `${apiHost}:${port}`
    const listen = o.listen ?? [`/ip4/${o.listenHost ?? '127.0.0.1'}/tcp/0`]
    const args = [
      o.entry ?? CLI,
      'start',
      '--name',
      o.name,
      '--data-dir',
      o.dataDir,
      ...listen.flatMap((l) => ['--listen', l]),
      ...(o.announce ?? []).flatMap((a) => ['--announce', a]),
      '--api',
      api,
      '--local-cluster',
      // a namespace's own address is beyond loopback: plain HTTP there is the simulation's choice
      ...(apiHost === '127.0.0.1' ? [] : ['--set', 'api.insecure=true']),
      ...(o.bootstrap ?? []).flatMap((b) => ['--bootstrap', b]),
      ...Object.entries(o.settings ?? {}).flatMap(([k, v]) => ['--set', `${k}=${JSON.stringify(v)}`]),
    ]
    // a fresh node's data dir does not exist yet, and a named one that is missing is refused: make it here
    // rather than pass --init, which builds from before that flag (the upgrade test runs them) do not know
    await mkdir(o.dataDir, { recursive: true })
    const cmd = [...(o.wrap ?? []), process.execPath, ...args]
    // MESHSYNC_* variables are config keys to the node; the test runner's own (MESHSYNC_TEST_LOG) are not
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MESHSYNC_TEST_')))
    const child = spawn(cmd[0]!, cmd.slice(1), { env, stdio: o.ipc === true ? ['ignore', 'ignore', 'pipe', 'ipc'] : ['ignore', 'ignore', 'pipe'] })
    if (o.logFile != null) child.stderr?.pipe(createWriteStream(o.logFile, { flags: 'a' }))
    else child.stderr?.resume()
    const node = new ProcessNode(o.name, api, child)
    const waitMs = o.startTimeoutMs ?? 30_000
    const deadline = Date.now() + waitMs
    for (;;) {
      if (child.exitCode != null || child.signalCode != null) throw new Error(`node ${o.name} exited with ${child.exitCode} while starting${o.logFile != null ? ` (log: ${o.logFile})` : ''}`)
      try {
        const s = await node.get<{ peerId: string; addresses: string[] }>('/status')
        node.peerId = s.peerId
        node.addresses = s.addresses
        return node
      } catch {
        if (Date.now() > deadline) {
          child.kill('SIGKILL')
          throw new Error(`node ${o.name} did not answer on ${api} within ${waitMs / 1000} s`)
        }
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }

  async get<T>(path: string): Promise<T> {
    const res = await fetch(`http://${this.api}${path}`, { headers: localApiHeaders(this.api), signal: AbortSignal.timeout(10_000) })
    const body = (await res.json()) as T & { error?: string }
    if (!res.ok) throw new Error(`${this.name} GET ${path}: ${body.error ?? res.status}`)
    return body
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    const res = await fetch(`http://${this.api}${path}`, { method: 'POST', headers: localApiHeaders(this.api), body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) })
    const out = (await res.json()) as T & { error?: string }
    if (!res.ok) throw new Error(`${this.name} POST ${path}: ${out.error ?? res.status}`)
    return out
  }

  /** kill -9: no chance to clean up. */
  kill(): void {
    this.child.kill('SIGKILL')
  }

  /**
   * SIGTERM, a spot termination notice: the node evacuates (serves its
   * rarest files to nodes that stay) within its deadline, then exits.
   * Resolves with the exit code.
   */
  async terminate(timeoutMs = 150_000): Promise<number | null> {
    if (this.child.exitCode != null) return this.child.exitCode
    this.child.kill('SIGTERM')
    const t = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs)
    const code = await this.#exit
    clearTimeout(t)
    return code
  }

  /** SIGINT (a clean stop without evacuation) and wait for the exit. */
  async stop(timeoutMs = 20_000): Promise<void> {
    if (this.child.exitCode != null) return
    this.child.kill('SIGINT')
    const t = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs)
    await this.#exit
    clearTimeout(t)
  }

  /** Peak resident memory of the process so far (VmHWM), MiB. */
  async peakRssMiB(): Promise<number> {
    const s = await readFile(`/proc/${this.pid}/status`, 'utf8')
    const m = /VmHWM:\s+(\d+) kB/.exec(s)
    return m != null ? Number(m[1]) / 1024 : Number.NaN
  }

  async rssMiB(): Promise<number> {
    const s = await readFile(`/proc/${this.pid}/status`, 'utf8')
    const m = /VmRSS:\s+(\d+) kB/.exec(s)
    return m != null ? Number(m[1]) / 1024 : Number.NaN
  }
}
