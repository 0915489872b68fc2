import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The compiled CLI entry (sim runs from dist/). */
const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'bin.js')

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

  private constructor(name: string, api: string, child: ChildProcess) {
    this.name = name
    this.api = api
    this.child = child
    this.#exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
  }

  get pid(): number {
    return this.child.pid ?? 0
  }

  get exited(): Promise<number | null> {
    return this.#exit
  }

  static async start(o: ProcessNodeOptions): Promise<ProcessNode> {
    const port = o.apiPort ?? (await freePort())
    const api = `127.0.0.1:${port}`
    const args = [
      CLI,
      'start',
      '--name',
      o.name,
      '--data-dir',
      o.dataDir,
      '--listen',
      `/ip4/${o.listenHost ?? '127.0.0.1'}/tcp/0`,
      '--api',
      api,
      '--local-cluster',
      ...(o.bootstrap ?? []).flatMap((b) => ['--bootstrap', b]),
      ...Object.entries(o.settings ?? {}).flatMap(([k, v]) => ['--set', `${k}=${JSON.stringify(v)}`]),
    ]
    const cmd = [...(o.wrap ?? []), process.execPath, ...args]
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] })
    if (o.logFile != null) child.stderr?.pipe(createWriteStream(o.logFile, { flags: 'a' }))
    else child.stderr?.resume()
    const node = new ProcessNode(o.name, api, child)
    const deadline = Date.now() + 30_000
    for (;;) {
      if (child.exitCode != null) throw new Error(`node ${o.name} exited with ${child.exitCode} while starting${o.logFile != null ? ` (log: ${o.logFile})` : ''}`)
      try {
        const s = await node.get<{ peerId: string; addresses: string[] }>('/status')
        node.peerId = s.peerId
        node.addresses = s.addresses
        return node
      } catch {
        if (Date.now() > deadline) {
          child.kill('SIGKILL')
          throw new Error(`node ${o.name} did not answer on ${api} within 30 s`)
        }
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }

  async get<T>(path: string): Promise<T> {
    const res = await fetch(`http://${this.api}${path}`, { signal: AbortSignal.timeout(10_000) })
    const body = (await res.json()) as T & { error?: { message: string } }
    if (!res.ok) throw new Error(`${this.name} GET ${path}: ${body.error?.message ?? res.status}`)
    return body
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    const res = await fetch(`http://${this.api}${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) })
    const out = (await res.json()) as T & { error?: { message: string } }
    if (!res.ok) throw new Error(`${this.name} POST ${path}: ${out.error?.message ?? res.status}`)
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
