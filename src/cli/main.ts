import { Command, Option } from 'commander'
import { parse as parseYaml } from 'yaml'
import { join } from 'node:path'
import { API_KEY_FILE, readKeyFile } from '../api/key.js'
import { loadConfig, type ResolvedConfig } from '../config/load.js'
import { layoutOf } from '../node/layout.js'
import { ConfigError, EXIT_INCOMPATIBLE, IncompatibleError, MeshsyncError } from '../util/errors.js'
import { versionText } from '../node/version.js'
import { registerHealthCommands } from './health-commands.js'
import { registerInspectCommands } from './inspect.js'
import { registerLocalCommands, registerRestoreCommand, registerSinkCommand } from './local.js'
import { registerTransferCommands } from './transfer-commands.js'
import { registerSimCommand } from './sim-command.js'
import { registerMergesCommand } from './merges-command.js'

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

/** Options every command that needs the configuration accepts. */
export function addConfigOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'YAML config file (or MESHSYNC_CONFIG)')
    .option('--data-dir <dir>', 'data directory (dataDir)')
    .option('--name <name>', 'node name (node.name)')
    .option('--set <key=value>', 'set any config key, e.g. --set transfer.maxConcurrent=8 (repeatable)', collect)
}

/** Turns parsed flags into a config layer of dotted keys. */
export function flagsToConfig(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const map: Record<string, string> = {
    dataDir: 'dataDir',
    name: 'node.name',
    role: 'node.role',
    provider: 'node.provider',
    tag: 'node.tags',
    listen: 'listen',
    announce: 'announce',
    api: 'api.listen',
    bootstrap: 'bootstrap',
    swarmKey: 'swarmKey',
    allowPeer: 'allowPeers',
    downGrace: 'replication.downGraceSeconds',
    btTracker: 'bittorrent.trackers',
    logLevel: 'log.level',
  }
  for (const [flag, key] of Object.entries(map)) {
    const v = o[flag]
    if (v == null || (Array.isArray(v) && v.length === 0)) continue
    out[key] = key === 'replication.downGraceSeconds' ? parseNumberFlag(`--down-grace`, v as string) : v
  }
  if (o.ephemeral === true) out['node.ephemeral'] = true
  if (o.localCluster === true) out['mesh.localCluster'] = true
  for (const kv of (o.set as string[] | undefined) ?? []) {
    const i = kv.indexOf('=')
    if (i <= 0) throw new ConfigError('--set', `expected KEY=VALUE, got '${kv}'`)
    let value: unknown
    try {
      value = parseYaml(kv.slice(i + 1))
    } catch {
      value = kv.slice(i + 1)
    }
    out[kv.slice(0, i)] = value
  }
  return out
}

function parseNumberFlag(flag: string, v: string): number {
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0) throw new ConfigError(flag, `expected a number of seconds, got '${v}'`)
  return n
}

export function configFrom(o: Record<string, unknown>): ResolvedConfig {
  return loadConfig({
    file: (o.config as string | undefined) ?? process.env.MESHSYNC_CONFIG,
    env: process.env,
    flags: flagsToConfig(o),
  })
}

/** The API address a client command talks to: --api, MESHSYNC_API, the config's api.listen, or the default. */
export function apiAddressFrom(o: Record<string, unknown>): string {
  if (typeof o.api === 'string') return o.api
  if (process.env.MESHSYNC_API != null && process.env.MESHSYNC_API !== '') return process.env.MESHSYNC_API
  const file = (o.config as string | undefined) ?? process.env.MESHSYNC_CONFIG
  if (file != null) return loadConfig({ file, env: process.env }).api.listen
  return '127.0.0.1:8420'
}

/** The API key a client command sends: --api-key, MESHSYNC_API_KEY, or the key in the config's data dir; undefined lets the client look in the per-user registry. */
export function apiKeyFrom(o: Record<string, unknown>): string | undefined {
  if (typeof o.apiKey === 'string' && o.apiKey !== '') return o.apiKey
  if (process.env.MESHSYNC_API_KEY != null && process.env.MESHSYNC_API_KEY !== '') return process.env.MESHSYNC_API_KEY
  const file = (o.config as string | undefined) ?? process.env.MESHSYNC_CONFIG
  if (file != null) return readKeyFile(join(layoutOf(loadConfig({ file, env: process.env }).dataDir).stateDir, API_KEY_FILE))
  return undefined
}

export function buildProgram(): Command {
  const program = new Command()
    .name('meshsync')
    .description('Peer-to-peer data sync for GPU training clusters')
    .version(versionText(), '-V, --version', 'print the version, commit and protocol versions')
    .showHelpAfterError()
  registerLocalCommands(program, { addConfigOptions, configFrom, collect })
  registerRestoreCommand(program, { addConfigOptions, configFrom, collect })
  registerSinkCommand(program, { addConfigOptions, configFrom, collect })
  registerInspectCommands(program, { apiAddressFrom, apiKeyFrom })
  registerTransferCommands(program, { apiAddressFrom, apiKeyFrom })
  registerHealthCommands(program, { apiAddressFrom, apiKeyFrom })
  registerSimCommand(program)
  registerMergesCommand(program, { apiAddressFrom, apiKeyFrom })
  return program
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram()
  program.exitOverride()
  try {
    await program.parseAsync(argv)
    return process.exitCode != null ? Number(process.exitCode) : 0
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string }
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? 0 : (e.exitCode ?? 2)
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`meshsync: configuration error: ${err.message}\n`)
      return 2
    }
    if (err instanceof MeshsyncError) {
      process.stderr.write(`meshsync: ${err.message}\n`)
      return err instanceof IncompatibleError ? EXIT_INCOMPATIBLE : 1
    }
    process.stderr.write(`meshsync: ${(err as Error).stack ?? String(err)}\n`)
    return 1
  }
}

export { Option }
