import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createServer, type Server } from 'node:net'

const REPO = join(import.meta.dirname, '..', '..')
export const BIN = join(REPO, 'bin', 'meshsync')
export const CLI_JS = join(REPO, 'dist', 'src', 'cli', 'bin.js')

export function requireBuild(): void {
  if (!existsSync(CLI_JS)) throw new Error(`${CLI_JS} is missing: run tools/node24 npm run build first`)
}

export interface Run {
  /** Exit code; null when the process had to be killed (it did not exit by itself within the timeout). */
  code: number | null
  stdout: string
  stderr: string
  /** It was still running at the timeout and was killed. */
  killed: boolean
}

/** The test runner's environment without MESHSYNC_* (they are config keys to the node), plus `env`. */
export function cleanEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MESHSYNC_') && k !== 'JOURNAL_STREAM'))
  return { ...base, MESHSYNC_NODE: process.execPath, ...env }
}

export interface Spawned {
  child: ChildProcess
  out: { stdout: string; stderr: string }
  done: Promise<Run>
}

/** bin/meshsync ARGS as a real process; `done` settles when it exits, or kills it after timeoutMs. */
export function spawnMeshsync(args: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Spawned {
  const child = spawn(BIN, args, { env: cleanEnv(opts.env), cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  const out = { stdout: '', stderr: '' }
  child.stdout!.on('data', (d: Buffer) => {
    out.stdout += d.toString()
  })
  child.stderr!.on('data', (d: Buffer) => {
    out.stderr += d.toString()
  })
  const done = new Promise<Run>((resolve) => {
    let killed = false
    const t = setTimeout(() => {
      killed = true
      child.kill('SIGKILL')
    }, opts.timeoutMs ?? 60_000)
    child.once('close', (code) => {
      clearTimeout(t)
      resolve({ code: killed ? null : code, stdout: out.stdout, stderr: out.stderr, killed })
    })
  })
  return { child, out, done }
}

export function meshsync(args: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  return spawnMeshsync(args, opts).done
}

/** A TCP port held open by this process, so that a node cannot have it. */
export async function occupiedPort(): Promise<{ port: number; server: Server }> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const a = server.address()
  if (a == null || typeof a === 'string') throw new Error('no port')
  return { port: a.port, server }
}

/** `meshsync start` printed its banner, so its API listens (the line `  api http://HOST:PORT`, see src/cli/local.ts). */
export function printedBanner(stderr: string): boolean {
  return /^ {2}api https?:\/\//m.test(stderr)
}

/** No stack trace in what a command printed. */
export function hasStack(text: string): boolean {
  return /^\s+at .+[:(]/m.test(text)
}
