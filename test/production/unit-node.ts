import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { randomFile, sha256File as hashFile } from '../helpers/files.js'

/**
 * A node started the way bootstrap/systemd/meshsync.service starts one:
 * `bin/meshsync start --config <cluster.yaml>` with the variables of its
 * EnvironmentFile (KEY=VALUE lines) and nothing else of ours (no flags).
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const MESHSYNC = join(ROOT, 'bin', 'meshsync')

/** The test runner's environment without its MESHSYNC_* variables (a unit gets only its EnvironmentFile's). */
function baseEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MESHSYNC_')))
}

/** Reads an EnvironmentFile: KEY=VALUE lines, # comments. */
export async function readEnvFile(path: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    const t = line.trim()
    if (t === '' || t.startsWith('#')) continue
    const i = t.indexOf('=')
    if (i > 0) out[t.slice(0, i)] = t.slice(i + 1)
  }
  return out
}

/** Runs the real CLI to completion; resolves with its stdout. */
export async function meshsync(args: string[], env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await promisify(execFile)(MESHSYNC, args, { env: { ...baseEnv(), ...env }, timeout: 60_000 })
  return stdout
}

export class UnitNode {
  readonly name: string
  readonly #config: string
  readonly #envFile: string
  readonly #log: string
  #child: ChildProcess | undefined
  #exit: Promise<number | null> = Promise.resolve(null)
  api = ''
  /** Exits that nobody asked for (code or signal), with the name and time. */
  readonly unexpectedExits: string[] = []
  #expectExit = false

  constructor(name: string, config: string, envFile: string, log: string) {
    this.name = name
    this.#config = config
    this.#envFile = envFile
    this.#log = log
  }

  get running(): boolean {
    return this.#child != null && this.#child.exitCode == null && this.#child.signalCode == null
  }

  async start(): Promise<void> {
    const env = await readEnvFile(this.#envFile)
    this.api = env.MESHSYNC_API_LISTEN ?? '127.0.0.1:8420'
    const child = spawn(MESHSYNC, ['start', '--config', this.#config], { env: { ...baseEnv(), ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
    child.stderr.pipe(createWriteStream(this.#log, { flags: 'a' }))
    this.#child = child
    this.#expectExit = false
    this.#exit = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        if (!this.#expectExit) this.unexpectedExits.push(`${this.name} exited (code ${code}, signal ${signal}) at ${new Date().toISOString()}; log ${this.#log}`)
        resolve(code)
      }),
    )
    const deadline = Date.now() + 60_000
    for (;;) {
      if (!this.running) throw new Error(`${this.name} exited while starting; log ${this.#log}`)
      if ((await this.get('/health').catch(() => undefined)) != null) return
      if (Date.now() > deadline) throw new Error(`${this.name} did not answer on ${this.api} within 60 s; log ${this.#log}`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }

  async get<T>(path: string): Promise<T> {
    const res = await fetch(`http://${this.api}${path}`, { signal: AbortSignal.timeout(10_000) })
    if (!res.ok) throw new Error(`${this.name} GET ${path}: ${res.status}`)
    return (await res.json()) as T
  }

  /** kill -9. */
  async kill(): Promise<void> {
    this.#expectExit = true
    this.#child?.kill('SIGKILL')
    await this.#exit
  }

  /** A clean stop at the end of a test. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.#expectExit = true
    this.#child?.kill('SIGINT')
    const t = setTimeout(() => this.#child?.kill('SIGKILL'), 20_000)
    await this.#exit
    clearTimeout(t)
  }
}

/** SHA-256 of a file, streamed; undefined when it does not exist. */
export async function sha256File(path: string): Promise<string | undefined> {
  return hashFile(path).catch(() => undefined)
}

/** Writes `size` random bytes to `path`; returns the SHA-256. */
export const writeRandomFile = randomFile
