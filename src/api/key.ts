import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { alive } from '../node/data-dir-lock.js'

/** The API key's file inside the state dir (DATA_DIR/.meshsync). */
export const API_KEY_FILE = 'api.key'

/** Reads the node's API key, creating it (mode 0600) at first start. */
export function loadOrCreateApiKey(stateDir: string): string {
  const file = join(stateDir, API_KEY_FILE)
  const existing = readKeyFile(file)
  if (existing != null) return existing
  const key = randomBytes(32).toString('base64url')
  try {
    writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    // another process made it first: use theirs
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    return readKeyFile(file) ?? key
  }
  return key
}

/** The key in `file`, or undefined when there is none (or it is empty). */
export function readKeyFile(file: string): string | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8').trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  if (text === '') return undefined
  // tighten a key file someone loosened (the key is as good as a password)
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600)
  return text
}

/** One running node in the per-user registry. */
export interface RegistryEntry {
  api: string
  host: string
  port: number
  pid: number
  key: string
  dataDir: string
  scheme: 'http' | 'https'
}

/**
 * The per-user registry of running nodes: $XDG_RUNTIME_DIR/meshsync, else
 * ~/.local/state/meshsync/run (MESHSYNC_RUNTIME_DIR overrides). The folder is
 * 0700 and each file 0600, so only the node's own user can read a key.
 */
export function registryDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MESHSYNC_RUNTIME_DIR != null && env.MESHSYNC_RUNTIME_DIR !== '') return env.MESHSYNC_RUNTIME_DIR
  if (env.XDG_RUNTIME_DIR != null && env.XDG_RUNTIME_DIR !== '') return join(env.XDG_RUNTIME_DIR, 'meshsync')
  return join(homedir(), '.local', 'state', 'meshsync', 'run')
}

/** One file per listen address (namespaced simulations run many nodes on one port, each on its own address). */
const entryFile = (dir: string, host: string, port: number): string => join(dir, `api-${port}-${host.replace(/[^A-Za-z0-9.-]/g, '_')}.json`)

/** Records a running node's API address and key; returns a function that removes the entry. */
export function registerRunningNode(entry: RegistryEntry, dir = registryDir()): () => void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700)
  const file = entryFile(dir, entry.host, entry.port)
  try {
    unlinkSync(file)
  } catch {}
  // entries of nodes that died without removing theirs (kill -9)
  for (const n of readdirSync(dir)) {
    if (!n.startsWith('api-') || !n.endsWith('.json')) continue
    try {
      if (!alive((JSON.parse(readFileSync(join(dir, n), 'utf8')) as RegistryEntry).pid)) unlinkSync(join(dir, n))
    } catch {}
  }
  writeFileSync(file, JSON.stringify(entry), { mode: 0o600, flag: 'wx' })
  return () => {
    try {
      const now = JSON.parse(readFileSync(file, 'utf8')) as RegistryEntry
      if (now.pid === entry.pid && now.key === entry.key) unlinkSync(file)
    } catch {}
  }
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1', '[::1]'])
const WILDCARD = new Set(['0.0.0.0', '::', '[::]'])

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_NAMES.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host)
}

export function isWildcardHost(host: string): boolean {
  return WILDCARD.has(host)
}


/**
 * The registry entry of a live node on this host that answers at `hostPort`
 * (the same host, a loopback name for a loopback or wildcard listener).
 */
export function findRunningNode(hostPort: string, dir = registryDir()): RegistryEntry | undefined {
  const i = hostPort.lastIndexOf(':')
  const host = hostPort.slice(0, i)
  const port = Number(hostPort.slice(i + 1))
  if (!Number.isInteger(port)) return undefined
  // the node listens on that host, on every address, or (asked by a loopback name) on a loopback address
  const hosts = [host, '0.0.0.0', '::', ...(isLoopbackHost(host) ? ['127.0.0.1', 'localhost', '::1'] : [])]
  for (const h of new Set(hosts)) {
    let entry: RegistryEntry
    try {
      entry = JSON.parse(readFileSync(entryFile(dir, h, port), 'utf8')) as RegistryEntry
    } catch {
      continue
    }
    if (alive(entry.pid)) return entry
  }
  return undefined
}

/** Every live entry (for `meshsync dashboard` with no address). */
export function runningNodes(dir = registryDir()): RegistryEntry[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  const out: RegistryEntry[] = []
  for (const n of names) {
    if (!/^api-\d+-.+\.json$/.test(n)) continue
    try {
      const e = JSON.parse(readFileSync(join(dir, n), 'utf8')) as RegistryEntry
      if (alive(e.pid)) out.push(e)
    } catch {}
  }
  return out
}

/** Headers for a JSON request to a node on this host, with its key from the registry (the simulation, tests). */
export function localApiHeaders(hostPort: string): Record<string, string> {
  const key = findRunningNode(hostPort)?.key
  return { 'content-type': 'application/json', ...(key != null ? { authorization: `Bearer ${key}` } : {}) }
}
