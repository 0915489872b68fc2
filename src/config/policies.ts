import picomatch from 'picomatch'
import type { Kind, PolicyConfig } from './schema.js'
import { configSchema } from './schema.js'

/** A policy with its name and compiled matchers, in evaluation order. */
export interface ResolvedPolicy extends PolicyConfig {
  name: string
  /** Built in (not from the config file). */
  builtin: boolean
  matches(path: string, kind: Kind): boolean
  excluded(path: string): boolean
}

/**
 * The built-in policies, used when the config names none, and the catch-all
 * appended when it names no catch-all of its own: with no policy configured,
 * every kind keeps at least 2 copies.
 */
export const BUILTIN_POLICIES: Record<string, unknown> = {
  elo: { match: { globs: ['**/elo*', '**/*_elo.*', '**/*.elo.*'] }, minCopies: 2, maxCopies: 3, priority: 'low' },
  registry: { match: { globs: ['**/registry*', '**/*.registry.*'] }, minCopies: 2, maxCopies: 3, priority: 'low' },
  games: { match: { kinds: ['sqlite'] }, minCopies: 2, maxCopies: 3, priority: 'normal' },
  npz: { match: { kinds: ['npz'] }, minCopies: 2, maxCopies: 64, roles: ['training'], priority: 'high', strategy: 'broadcast' },
  models: { match: { kinds: ['model'] }, minCopies: 2, maxCopies: 64, roles: ['training'], priority: 'high', strategy: 'broadcast' },
  default: { minCopies: 2, maxCopies: 3, priority: 'normal' },
}

const DEFAULT_EXCLUDE = ['**/*.tmp', '**/*.partial', '**/*.part']

export function resolvePolicies(configured: Record<string, PolicyConfig> | undefined): ResolvedPolicy[] {
  const policySchema = configSchema.shape.policies.unwrap().valueType
  const out: ResolvedPolicy[] = []
  const entries: [string, PolicyConfig, boolean][] =
    configured == null || Object.keys(configured).length === 0
      ? Object.entries(BUILTIN_POLICIES).map(([n, p]) => [n, policySchema.parse(p), true])
      : Object.entries(configured).map(([n, p]) => [n, p, false])
  if (!entries.some(([, p]) => isCatchAll(p))) {
    entries.push(['default', policySchema.parse(BUILTIN_POLICIES.default), true])
  }
  for (const [name, p, builtin] of entries) {
    const globMatch = p.match.globs.length > 0 ? picomatch(p.match.globs, { dot: true }) : undefined
    const exclude = picomatch([...DEFAULT_EXCLUDE, ...p.exclude], { dot: true })
    out.push({
      ...p,
      name,
      builtin,
      matches: (path, kind) => isCatchAll(p) || p.match.kinds.includes(kind) || (globMatch?.(path) ?? false),
      excluded: (path) => exclude(path),
    })
  }
  return out
}

function isCatchAll(p: PolicyConfig): boolean {
  return p.match.kinds.length === 0 && p.match.globs.length === 0
}

/** The first policy that matches, in order (glob policies such as elo come before kind ones). */
export function policyFor(policies: ResolvedPolicy[], path: string, kind: Kind): ResolvedPolicy {
  for (const p of policies) if (p.matches(path, kind)) return p
  // resolvePolicies always appends a catch-all
  return policies[policies.length - 1]!
}
