import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { join } from 'node:path'
import { Server } from 'bittorrent-tracker'
import { freePort } from '../../sim/harness/process-node.js'
import type { MeshsyncNode } from '../../src/node.js'
import { waitFor } from '../helpers/cluster.js'

/** Helpers of the BitTorrent tests: real files, a real tracker on loopback, aria2c. */

export const MiB = 1024 * 1024

/** Settings of the BitTorrent tests: replication off (every transfer is the test's), quick stall detection. */
export const BT_TEST: Record<string, unknown> = {
  'policies.solo.minCopies': 1,
  'policies.solo.maxCopies': 1,
  'transfer.stallSeconds': 3,
  'transfer.backoffBaseSeconds': 0.5,
  'transfer.backoffMaxSeconds': 2,
  'transfer.retries': 20,
}

/** The receiver knows `holders` hold `sha` with an infoHash, and their BitTorrent ports. */
export async function knownWithTorrent(dst: MeshsyncNode, sha: string, holders: MeshsyncNode[]): Promise<string> {
  return waitFor(
    'holders with their torrent and BitTorrent port known to the receiver',
    () => {
      let infoHash: string | undefined
      for (const h of holders) {
        const p = dst.view.get(h.peerId)
        if (p?.state !== 'up' || (p.health?.btPort ?? 0) === 0 || !dst.view.holders(sha).includes(h.peerId)) return undefined
        const e = [...p.entries.values()].find((x) => x.sha256 === sha)
        if (e?.infoHash == null) return undefined
        infoHash = e.infoHash
      }
      return infoHash
    },
    60_000,
  )
}

export { randomFile, sha256File } from '../helpers/files.js'

export const HAS_ARIA2C = spawnSync('aria2c', ['--version'], { stdio: 'ignore' }).status === 0

/** An HTTP-only bittorrent-tracker on loopback; `started` resolves when a client announces `infoHash`. */
export async function startTracker(opts: { intervalMs?: number } = {}): Promise<{ url: string; server: Server; announced: (infoHash: string, port?: number) => Promise<void>; close: () => Promise<void> }> {
  const server = new Server({ http: true, udp: false, ws: false, stats: false, ...(opts.intervalMs != null ? { interval: opts.intervalMs } : {}) })
  const seen: { infoHash: string; port: number }[] = []
  const waiters: (() => void)[] = []
  const note = (_addr: string, params: Record<string, unknown>): void => {
    seen.push({ infoHash: String(params.info_hash), port: Number(params.port) })
    for (const w of waiters.splice(0)) w()
  }
  server.on('start', note)
  server.on('update', note)
  server.on('complete', note)
  server.on('error', () => {})
  server.on('warning', () => {})
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const addr = server.http!.address()
  const port = typeof addr === 'object' && addr != null ? addr.port : 0
  return {
    url: `http://127.0.0.1:${port}/announce`,
    server,
    announced: async (infoHash, p) => {
      const deadline = Date.now() + 60_000
      while (!seen.some((s) => s.infoHash === infoHash && (p == null || s.port === p))) {
        if (Date.now() > deadline) throw new Error(`nobody announced ${infoHash} to the tracker within 60 s`)
        await new Promise<void>((r) => {
          waiters.push(r)
          setTimeout(r, 500)
        })
      }
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

export { ARIA2C_BASE } from '../../sim/bench/aria2c.js'
import { ARIA2C_BASE } from '../../sim/bench/aria2c.js'

/** Runs aria2c; resolves with its exit code and output. */
export function aria2c(args: string[], logFile?: string): { child: ChildProcess; done: Promise<{ code: number | null; output: string }> } {
  const child = spawn('aria2c', [...ARIA2C_BASE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const log = logFile != null ? createWriteStream(logFile, { flags: 'a' }) : undefined
  const take = (d: Buffer): void => {
    output = (output + d.toString()).slice(-20_000)
    log?.write(d)
  }
  child.stdout?.on('data', take)
  child.stderr?.on('data', take)
  const done = new Promise<{ code: number | null; output: string }>((resolve) => child.once('exit', (code) => resolve({ code, output })))
  return { child, done }
}

export function stagingOf(dataDir: string): string {
  return join(dataDir, '.meshsync', 'staging')
}

/** The compiled CLI (`npm run build` first). */
export const CLI_JS = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'bin.js')

export interface CliNode {
  child: ChildProcess
  api: string
  get<T>(path: string): Promise<T>
  /** SIGINT (a plain stop) and wait for the exit. */
  stop(): Promise<void>
}

/** `meshsync start ARGS` as its own process, on loopback; resolves once its API answers. */
export async function startCli(args: string[], apiPort: number, logFile?: string): Promise<CliNode> {
  const api = `127.0.0.1:${apiPort}`
  const child = spawn(process.execPath, [CLI_JS, 'start', '--listen', '/ip4/127.0.0.1/tcp/0', '--api', api, '--local-cluster', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    // MESHSYNC_* variables are config keys to the node; the test runner's own are not
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MESHSYNC_TEST_'))),
  })
  if (logFile != null) child.stderr?.pipe(createWriteStream(logFile, { flags: 'a' }))
  else child.stderr?.resume()
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(`http://${api}${path}`, { signal: AbortSignal.timeout(10_000) })
    if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`)
    return (await res.json()) as T
  }
  const node: CliNode = {
    child,
    api,
    get,
    stop: async () => {
      if (child.exitCode != null) return
      child.kill('SIGINT')
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000)
      await exited
      clearTimeout(t)
    },
  }
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode != null) throw new Error(`meshsync exited with ${child.exitCode} while starting`)
    try {
      await get('/status')
      return node
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL')
        throw new Error(`meshsync did not answer on ${api} within 30 s`)
      }
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

/** A node named bt-seeder started through the CLI on `dataDir`, announcing to the tracker at `trackerUrl`, with BT_TEST and `settings` as --set flags; its log in `logFile`. */
export async function startSeeder(dataDir: string, trackerUrl: string, settings: Record<string, unknown>, logFile: string): Promise<CliNode> {
  const flags = Object.entries({ ...BT_TEST, 'catalog.stableSeconds': 0.2, ...settings }).flatMap(([k, v]) => ['--set', `${k}=${JSON.stringify(v)}`])
  return startCli(['--name', 'bt-seeder', '--data-dir', dataDir, '--bt-tracker', trackerUrl, ...flags], await freePort(), logFile)
}
