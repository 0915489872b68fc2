import picomatch from 'picomatch'
import type { ResolvedPolicy } from '../config/policies.js'
import type { MergeConfig, Role } from '../config/schema.js'
import { ConfigError } from '../util/errors.js'

/** What a row whose key is already in the target (with other values) does. */
export type ConflictRule = { kind: 'keep-first' } | { kind: 'reject' } | { kind: 'newest'; column: string }

export interface TableRule {
  name: string
  key: string[]
  conflict: ConflictRule
}

/** A `merges.<name>` rule, compiled. */
export interface MergeRule {
  name: string
  mode: 'build' | 'converge'
  tables: TableRule[]
  roles: Role[]
  tags: string[]
  intervalMs: number
  /** The placeholder values of a source path, or undefined when it is not a source of this rule. */
  sourceMatch(path: string): Record<string, string> | undefined
  /** The target a source with these placeholder values feeds (build mode). */
  targetFor(values: Record<string, string>): string
  /** Whether a path is one of this rule's targets, or a peer's copy of one landed beside it (never a source). */
  isTarget(path: string): boolean
}

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g

export function parseConflict(rule: string): ConflictRule {
  if (rule === 'keep-first' || rule === 'reject') return { kind: rule }
  return { kind: 'newest', column: rule.slice('newest:'.length) }
}

/** A source pattern as a regex: `**` any path, `*` and `?` within one segment, `{name}` a named part of a segment. */
export function patternRegex(pattern: string): RegExp {
  let out = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '*' && pattern[i + 1] === '*') {
      const slash = pattern[i + 2] === '/'
      out += slash ? '(?:.*/)?' : '.*'
      i += slash ? 2 : 1
    } else if (c === '*') out += '[^/]*'
    else if (c === '?') out += '[^/]'
    else if (c === '{') {
      const end = pattern.indexOf('}', i)
      const name = end > i ? pattern.slice(i + 1, end) : ''
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`'${pattern}': a placeholder is {name} with letters, digits and underscore`)
      out += `(?<${name}>[^/]+?)`
      i = end
    } else out += c.replace(/[.+^$()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${out}$`)
}

/** Fills `{name}` placeholders; a value never brings a path separator or `..` in. */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(PLACEHOLDER, (_m, name: string) => {
    const v = values[name]
    if (v == null) throw new Error(`placeholder {${name}} has no value`)
    return v
  })
}

/** The path of a peer's version of `path` when it lands beside a local file of that name (landing's alt name). */
export function altPattern(path: string): RegExp {
  const slash = path.lastIndexOf('/')
  const dir = slash >= 0 ? path.slice(0, slash + 1) : ''
  const base = path.slice(slash + 1)
  const dot = base.lastIndexOf('.')
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const alt = dot > 0 ? `${esc(base.slice(0, dot))}(?:\\.[0-9a-f]{12})+${esc(base.slice(dot))}` : `${esc(base)}(?:\\.[0-9a-f]{12})+`
  return new RegExp(`^${esc(dir)}${alt}$`)
}

export function compileRules(merges: Record<string, MergeConfig>): MergeRule[] {
  return Object.entries(merges).map(([name, m]) => compileRule(name, m))
}

function compileRule(name: string, m: MergeConfig): MergeRule {
  const key = `merges.${name}`
  if (m.mode === 'build' && m.target == null) throw new ConfigError(`${key}.target`, 'a build merge needs a target path')
  if (m.mode === 'converge' && m.target != null) throw new ConfigError(`${key}.target`, 'a converge merge has no target: every local copy of a source is its own target')
  let sources: RegExp[]
  try {
    sources = m.sources.map(patternRegex)
  } catch (err) {
    throw new ConfigError(`${key}.sources`, (err as Error).message)
  }
  const placeholders = (p: string) => [...p.matchAll(PLACEHOLDER)].map((x) => x[1]!)
  const tables: TableRule[] = Object.entries(m.tables).map(([t, r]) => {
    const conflict = parseConflict(r.conflict ?? m.conflict)
    if (m.mode === 'converge' && conflict.kind !== 'newest') {
      throw new ConfigError(`${key}.tables.${t}.conflict`, `converge needs newest:<column> (keep-first and reject depend on the order versions arrive in, so copies would not converge)`)
    }
    if (conflict.kind === 'newest' && r.key.includes(conflict.column)) throw new ConfigError(`${key}.tables.${t}.conflict`, `newest:${conflict.column} is a key column`)
    return { name: t, key: r.key, conflict }
  })
  let targetRe: RegExp | undefined
  if (m.target != null) {
    for (const ph of placeholders(m.target)) {
      if (!m.sources.every((s) => placeholders(s).includes(ph))) throw new ConfigError(`${key}.target`, `placeholder {${ph}} is not in every source pattern`)
    }
    if (m.target.startsWith('/') || m.target.split('/').includes('..')) throw new ConfigError(`${key}.target`, `'${m.target}' must be a relative path under the data dir`)
    const t = m.target
    const dot = t.lastIndexOf('.')
    const withAlt = dot > t.lastIndexOf('/') + 1 ? `${t.slice(0, dot)}{__alt}${t.slice(dot)}` : `${t}{__alt}`
    const re = patternRegex(withAlt)
    // a landed copy of a landed copy gets a second hash: `name.<sha12>.<sha12>.ext`
    targetRe = new RegExp(re.source.replace('(?<__alt>[^/]+?)', '(?:\\.[0-9a-f]{12})*'))
  }
  const isTarget = (path: string) => targetRe?.test(path) ?? false
  return {
    name,
    mode: m.mode,
    tables,
    roles: m.roles,
    tags: m.tags,
    intervalMs: m.intervalSeconds * 1000,
    sourceMatch(path) {
      if (isTarget(path)) return undefined
      for (const re of sources) {
        const hit = re.exec(path)
        if (hit != null) {
          const values = { ...(hit.groups ?? {}) }
          if (Object.values(values).some((v) => v === '..' || v === '.')) return undefined
          return values
        }
      }
      return undefined
    },
    targetFor(values) {
      if (m.target == null) throw new Error(`${key} has no target (converge)`)
      return fillTemplate(m.target, values)
    },
    isTarget,
  }
}

/** Whether this node builds a rule's targets: its role is one of the rule's roles (empty: any) and it carries one of its tags (empty: none needed). */
export function builds(rule: Pick<MergeRule, 'roles' | 'tags'>, self: { role: Role; tags: string[] }): boolean {
  if (rule.roles.length > 0 && !rule.roles.includes(self.role)) return false
  if (rule.tags.length > 0 && !rule.tags.some((t) => self.tags.includes(t))) return false
  return true
}

/** The targets' own replication policies (`merges.<name>.policy`), to be placed before all others. */
export function mergeTargetPolicies(merges: Record<string, MergeConfig>): ResolvedPolicy[] {
  const out: ResolvedPolicy[] = []
  for (const [name, m] of Object.entries(merges)) {
    if (m.policy == null || m.target == null) continue
    const glob = m.target.replace(PLACEHOLDER, '*')
    const dot = glob.lastIndexOf('.')
    const globs = dot > 0 ? [glob, `${glob.slice(0, dot)}.*${glob.slice(dot)}`] : [glob, `${glob}.*`]
    const match = picomatch(globs, { dot: true })
    const exclude = picomatch([...m.policy.exclude, '**/*.tmp', '**/*.partial', '**/*.part'], { dot: true })
    out.push({
      ...m.policy,
      match: { kinds: [], globs },
      name: `merge-${name}`,
      builtin: false,
      matches: (path) => match(path),
      excluded: (path) => exclude(path),
    })
  }
  return out
}
