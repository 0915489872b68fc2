import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'

export const ROOT = resolve(import.meta.dirname, '..', '..')
export const isRoot = process.getuid?.() === 0

export interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs a command to its end (never throws on a non-zero exit). */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err == null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1
      done({ code, stdout, stderr })
    })
  })
}

export function has(cmd: string): boolean {
  return ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].some((d) => existsSync(join(d, cmd)))
}

/** `npm run release -- --out DIR` (Node 24 through tools/node24); returns the artifacts' paths. */
export async function buildRelease(out: string, extra: string[] = []): Promise<{ tarball: string; deb?: string; log: string }> {
  const r = await run(join(ROOT, 'tools', 'node24'), ['node', join(ROOT, 'scripts', 'release', 'release.mjs'), '--out', out, ...extra], {
    cwd: ROOT,
    timeoutMs: 480_000,
    // gzip -1: the same artifacts, minutes less CPU on a shared machine
    env: { ...process.env, MESHSYNC_RELEASE_GZIP: '1' },
  })
  if (r.code !== 0) throw new Error(`npm run release failed (${r.code}):\n${r.stderr.slice(-4000)}`)
  const files = r.stdout.trim().split('\n')
  return { tarball: files.find((f) => f.endsWith('.tar.gz'))!, deb: files.find((f) => f.endsWith('.deb')), log: r.stderr }
}

/** A started `meshsync start` process whose first stderr lines gave its peer ID, API and listen addresses. */
export interface StartedNode {
  child: ChildProcess
  peerId: string
  api: string
  addresses: string[]
  stderr: () => string
  exited: Promise<number | null>
}

/**
 * Spawns `cmd` (a meshsync start command line, maybe wrapped in `ip netns exec`)
 * and waits for the banner `meshsync NAME PEERID / api and dashboard http://HOST:PORT/ ... / addresses`.
 */
export function startFromBanner(cmd: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<StartedNode> {
  const child = spawn(cmd[0]!, cmd.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)))
  return new Promise((resolveStart, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`no start banner within ${timeoutMs} ms:\n${err.slice(-3000)}`))
    }, timeoutMs)
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString()
      const m = /^meshsync \S+ (\S+)\n {2}api and dashboard http:\/\/([^/\s]+)\/[^\n]*\n((?: {2}\/\S+\n)+)/m.exec(err)
      if (m == null) return
      clearTimeout(t)
      const addresses = m[3]!.trim().split('\n').map((l) => l.trim())
      resolveStart({ child, peerId: m[1]!, api: m[2]!, addresses, stderr: () => err, exited })
    })
    child.once('exit', (code) => {
      clearTimeout(t)
      reject(new Error(`exited with ${code} before its banner:\n${err.slice(-3000)}`))
    })
  })
}

/** Settings that make two nodes meet and gossip fast (as test/helpers/cluster.ts FAST, as --set flags). */
export const FAST_FLAGS = [
  '--local-cluster',
  ...Object.entries({
    'gossip.healthIntervalSeconds': 0.3,
    'gossip.suspectAfterSeconds': 1.2,
    'gossip.downAfterSeconds': 2.5,
    'catalog.stableSeconds': 0.2,
    'catalog.scanIntervalSeconds': 1,
    'disk.minFree': 0,
  }).flatMap(([k, v]) => ['--set', `${k}=${v}`]),
]

export async function poll<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn().catch(() => undefined)
    if (v != null && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}
