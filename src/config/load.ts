import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { isAbsolute, resolve } from 'node:path'
import { parse as parseYaml, YAMLParseError } from 'yaml'
import { ConfigError } from '../util/errors.js'
import { checkContradictions } from './contradictions.js'
import { resolvePolicies, type ResolvedPolicy } from './policies.js'
import { compileRules, mergeTargetPolicies } from '../merge/rules.js'
import { configSchema, type Config, type HostConfig, type Role } from './schema.js'

/** A value and where it came from, so errors can say "env MESHSYNC_X" or "--flag". */
export type Layer = { source: string; values: Record<string, unknown> }

/** The configuration after defaults, file, environment and flags, validated. */
export interface ResolvedConfig extends Omit<Config, 'node'> {
  node: { name: string; role: Role; provider: string; tags: string[]; ephemeral: boolean }
  /** Absolute data dir. */
  dataDir: string
  /** Ordered policies with the built-in defaults filled in. */
  resolvedPolicies: ResolvedPolicy[]
  /** Where the file came from, if any. */
  configFile?: string
  /** Which layer set each key (`command-line flags`, `config file X`...); keys left at their default are absent. */
  keySources?: Record<string, string>
}

/** Where a key of a resolved config was set, or undefined for a default. */
export function configSource(cfg: Pick<ResolvedConfig, 'keySources'>, key: string): string | undefined {
  return cfg.keySources != null ? findSource(new Map(Object.entries(cfg.keySources)), key) : undefined
}

export interface LoadOptions {
  /** Path of a YAML file; missing means defaults only. */
  file?: string
  env?: NodeJS.ProcessEnv
  /** Overrides from command-line flags, as dotted keys (`transfer.maxConcurrent`) or nested objects. */
  flags?: Record<string, unknown>
  /** Resolve relative paths against this folder (default: the file's folder for file keys, else cwd). */
  cwd?: string
}

const ENV_PREFIX = 'MESHSYNC_'
/** Variables read elsewhere (the CLI's --config, the Node toolchain), not config keys. */
const ENV_NOT_KEYS = new Set(['MESHSYNC_CONFIG', 'MESHSYNC_NODE_CACHE', 'MESHSYNC_NODE', 'MESHSYNC_API'])
/** Short names for the keys operators set most. */
const ENV_ALIASES: Record<string, string> = {
  MESHSYNC_NAME: 'node.name',
  MESHSYNC_ROLE: 'node.role',
  MESHSYNC_PROVIDER: 'node.provider',
  MESHSYNC_TAGS: 'node.tags',
  MESHSYNC_EPHEMERAL: 'node.ephemeral',
  MESHSYNC_DATA_DIR: 'dataDir',
  MESHSYNC_LISTEN: 'listen',
  MESHSYNC_BOOTSTRAP: 'bootstrap',
  MESHSYNC_SWARM_KEY: 'swarmKey',
  MESHSYNC_API_LISTEN: 'api.listen',
  MESHSYNC_LOG_LEVEL: 'log.level',
  MESHSYNC_DOWN_GRACE: 'replication.downGraceSeconds',
  MESHSYNC_BT_TRACKER: 'bittorrent.trackers',
  MESHSYNC_BT_PREFERRED_SIZE: 'bittorrent.preferredSize',
  MESHSYNC_BT_REQUIRED_SIZE: 'bittorrent.requiredSize',
  MESHSYNC_BT_PREFER: 'bittorrent.preferForRequired',
}
const LIST_KEYS = new Set(['listen', 'bootstrap', 'node.tags', 'bittorrent.trackers', 'allowPeers', 'announce'])

/**
 * Environment variables: MESHSYNC_<KEY> with `__` between nesting levels and
 * snake case within (MESHSYNC_TRANSFER__MAX_CONCURRENT=8), or an alias above.
 * Values are read as YAML scalars; list keys also take comma-separated text.
 */
export function envLayer(env: NodeJS.ProcessEnv): Layer[] {
  const layers: Layer[] = []
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || raw == null || ENV_NOT_KEYS.has(name)) continue
    const key = ENV_ALIASES[name] ?? name.slice(ENV_PREFIX.length).split('__').map(snakeToCamel).join('.')
    let value: unknown
    if (LIST_KEYS.has(key) && !raw.trim().startsWith('[')) {
      value = raw.split(',').map((s) => s.trim()).filter((s) => s !== '')
    } else {
      try {
        value = parseYaml(raw)
      } catch {
        value = raw
      }
    }
    layers.push({ source: `environment variable ${name}`, values: { [key]: value } })
  }
  return layers
}

function snakeToCamel(s: string): string {
  return s.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())
}

export function loadConfig(opts: LoadOptions = {}): ResolvedConfig {
  const layers: Layer[] = []
  let fileDir: string | undefined
  if (opts.file != null) {
    const path = resolve(opts.cwd ?? process.cwd(), opts.file)
    fileDir = resolve(path, '..')
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (err) {
      throw new ConfigError('--config', `cannot read ${path}: ${(err as Error).message}`)
    }
    let doc: unknown
    try {
      doc = parseYaml(text, { uniqueKeys: true })
    } catch (err) {
      const where = err instanceof YAMLParseError && err.linePos != null ? ` at line ${err.linePos[0].line}` : ''
      throw new ConfigError('--config', `${path} is not valid YAML${where}: ${(err as Error).message.split('\n')[0]}`)
    }
    if (doc != null && (typeof doc !== 'object' || Array.isArray(doc))) {
      throw new ConfigError('--config', `${path} must hold a mapping of keys at the top level`)
    }
    layers.push({ source: `config file ${path}`, values: (doc ?? {}) as Record<string, unknown> })
  }
  layers.push(...envLayer(opts.env ?? {}))
  if (opts.flags != null && Object.keys(opts.flags).length > 0) layers.push({ source: 'command-line flags', values: opts.flags })
  return resolveLayers(layers, { cwd: opts.cwd ?? process.cwd(), fileDir, file: opts.file })
}

export function resolveLayers(layers: Layer[], ctx: { cwd: string; fileDir?: string; file?: string }): ResolvedConfig {
  const merged: Record<string, unknown> = {}
  const sources = new Map<string, string>()
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer.values)) {
      mergeInto(merged, key.split('.'), value, layer.source, sources, key)
    }
  }

  const parsed = configSchema.safeParse(merged)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const key = issue.path.map(String).join('.') || '(top level)'
    const keys = issue.code === 'unrecognized_keys' ? (issue as { keys: string[] }).keys : []
    const fullKey = keys.length > 0 ? [key === '(top level)' ? '' : key, keys[0]].filter((s) => s !== '').join('.') : key
    const source = findSource(sources, fullKey)
    const what = issue.code === 'unrecognized_keys' ? `unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `'${k}'`).join(', ')}` : issue.message
    throw new ConfigError(fullKey, `${what}${source != null ? ` (from ${source})` : ''}`)
  }
  const cfg = parsed.data

  const name = cfg.node.name ?? defaultName()
  const host: HostConfig | undefined = cfg.cluster.hosts[name]
  const hostKeys = Object.keys(cfg.cluster.hosts)
  if (hostKeys.length > 0 && host == null) {
    throw new ConfigError('node.name', `'${name}' is not in cluster.hosts (${hostKeys.join(', ')}); set node.name (or --name) to this host's entry`)
  }
  const node = {
    name,
    role: cfg.node.role ?? host?.role ?? 'worker',
    provider: cfg.node.provider ?? host?.provider ?? 'local',
    tags: cfg.node.tags ?? host?.tags ?? [],
    ephemeral: cfg.node.ephemeral ?? host?.ephemeral ?? false,
  }
  if (host != null) {
    for (const k of ['role', 'provider', 'ephemeral'] as const) {
      const own = cfg.node[k]
      if (own != null && own !== host[k]) {
        throw new ConfigError(`node.${k}`, `is '${own}' but cluster.hosts.${name}.${k} says '${host[k]}'; remove one of them`)
      }
    }
  }

  const baseDir = sources.get('dataDir')?.startsWith('config file') ? (ctx.fileDir ?? ctx.cwd) : ctx.cwd
  const dataDir = isAbsolute(cfg.dataDir) ? cfg.dataDir : resolve(baseDir, cfg.dataDir)
  const swarmKeyBase = sources.get('swarmKey')?.startsWith('config file') ? (ctx.fileDir ?? ctx.cwd) : ctx.cwd
  const swarmKey = cfg.swarmKey == null ? undefined : isAbsolute(cfg.swarmKey) ? cfg.swarmKey : resolve(swarmKeyBase, cfg.swarmKey)

  const bootstrap = [...cfg.bootstrap]
  for (const [hostName, h] of Object.entries(cfg.cluster.hosts)) {
    if (h.bootstrap != null && hostName !== name && !bootstrap.includes(h.bootstrap)) bootstrap.push(h.bootstrap)
  }

  compileRules(cfg.merges) // a bad merge rule stops the node with the key's name
  const resolvedPolicies = [...mergeTargetPolicies(cfg.merges), ...resolvePolicies(cfg.policies)]
  const keySources = Object.fromEntries(sources)
  const resolved: ResolvedConfig = { ...cfg, node, dataDir, swarmKey, bootstrap, resolvedPolicies, configFile: ctx.file, keySources }
  checkContradictions(resolved, (key) => findSource(sources, key), (key) => sources.get(key))
  return resolved
}

function defaultName(): string {
  const h = hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64)
  return h === '' ? 'meshsync' : h
}

function mergeInto(target: Record<string, unknown>, path: string[], value: unknown, source: string, sources: Map<string, string>, key: string): void {
  const [head, ...rest] = path
  if (head == null) return
  if (rest.length === 0) {
    const existing = target[head]
    if (isPlainObject(existing) && isPlainObject(value)) {
      for (const [k, v] of Object.entries(value)) mergeInto(existing, [k], v, source, sources, `${key}.${k}`)
    } else {
      target[head] = value
      recordSources(sources, key, value, source)
    }
    return
  }
  let child = target[head]
  if (!isPlainObject(child)) {
    child = {}
    target[head] = child
  }
  mergeInto(child as Record<string, unknown>, rest, value, source, sources, key)
}

function recordSources(sources: Map<string, string>, key: string, value: unknown, source: string): void {
  sources.set(key, source)
  if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) recordSources(sources, `${key}.${k}`, v, source)
  }
}

function findSource(sources: Map<string, string>, key: string): string | undefined {
  for (const [k, s] of sources) if (k.startsWith(`${key}.`)) return s
  let k = key
  for (;;) {
    const s = sources.get(k)
    if (s != null) return s
    const i = k.lastIndexOf('.')
    if (i < 0) return undefined
    k = k.slice(0, i)
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v != null && typeof v === 'object' && !Array.isArray(v)
}
