import { ConfigError } from '../util/errors.js'
import type { ResolvedConfig } from './load.js'

/**
 * Rules that no schema can express: values that are each fine but contradict
 * each other. Each failure names the key an operator has to change.
 */
export function checkContradictions(
  cfg: ResolvedConfig,
  sourceOf: (key: string) => string | undefined,
  /** The layer that set exactly this key (not a parent of it); undefined for a default. */
  exactSourceOf: (key: string) => string | undefined = sourceOf,
): void {
  const fail = (key: string, message: string): never => {
    const source = sourceOf(key)
    throw new ConfigError(key, `${message}${source != null ? ` (from ${source})` : ''}`)
  }
  /**
   * Two keys whose values must be ordered are not: blame the one set by the
   * layer that wins (flags over environment over file over default; the
   * second key on a tie), and say where each value came from.
   */
  const failPair = (a: string, b: string, rule: string): never => {
    const rank = (k: string): number => {
      const s = exactSourceOf(k)
      return s == null ? -1 : s === 'command-line flags' ? 3 : s.startsWith('environment variable') ? 2 : 1
    }
    const [key, other] = rank(a) > rank(b) ? [a, b] : [b, a]
    const where = (k: string): string => {
      const s = exactSourceOf(k)
      return s != null ? `from ${s}` : 'the default'
    }
    throw new ConfigError(key, `is ${valueAt(cfg, key)} (${where(key)}) but ${other} is ${valueAt(cfg, other)} (${where(other)}); ${rule}`)
  }
  const hosts = Object.keys(cfg.cluster.hosts)

  for (const p of cfg.resolvedPolicies) {
    if (p.builtin) continue
    const key = `policies.${p.name}`
    if (p.minCopies > p.maxCopies) {
      fail(`${key}.minCopies`, `is ${p.minCopies} but maxCopies is ${p.maxCopies}`)
    }
    for (const h of p.excludeHosts) {
      if (p.priorityHosts.includes(h)) {
        fail(`${key}.excludeHosts`, `host '${h}' is both excluded and a priority host (policies.${p.name}.priorityHosts); remove it from one of them`)
      }
    }
    if (hosts.length > 0) {
      for (const field of ['excludeHosts', 'priorityHosts'] as const) {
        for (const h of p[field]) {
          if (!hosts.includes(h)) fail(`${key}.${field}`, `host '${h}' is not in cluster.hosts (${hosts.join(', ')})`)
        }
      }
      // an allowed target by role that is also excluded by name is fine; a priority host whose role the policy refuses is not
      for (const h of p.priorityHosts) {
        const role = cfg.cluster.hosts[h]?.role
        if (role != null && !roleAllowed(p, role)) {
          fail(`${key}.priorityHosts`, `host '${h}' has role '${role}', which policies.${p.name} does not send to (roles: ${p.roles.join(', ') || 'all but coordinator'})`)
        }
      }
    }
  }

  const d = cfg.disk
  const rise = 'the disk thresholds must rise: disk.pushAt <= disk.urgentAt <= disk.cleanupAt'
  if (d.pushAt > d.urgentAt) failPair('disk.pushAt', 'disk.urgentAt', rise)
  if (d.urgentAt > d.cleanupAt) failPair('disk.urgentAt', 'disk.cleanupAt', rise)
  if (d.quota != null && d.minFree >= d.quota) {
    fail('disk.minFree', `is ${d.minFree} bytes but the quota is only ${d.quota}`)
  }
  const g = cfg.gossip
  if (g.suspectAfterSeconds <= g.healthIntervalSeconds) {
    failPair('gossip.healthIntervalSeconds', 'gossip.suspectAfterSeconds', 'gossip.suspectAfterSeconds must be longer than gossip.healthIntervalSeconds, or every peer goes suspect between two messages')
  }
  if (g.downAfterSeconds <= g.suspectAfterSeconds) {
    failPair('gossip.suspectAfterSeconds', 'gossip.downAfterSeconds', 'gossip.downAfterSeconds must be longer than gossip.suspectAfterSeconds')
  }
  const bt = cfg.bittorrent
  if (bt.preferredSize > bt.requiredSize) {
    failPair('bittorrent.requiredSize', 'bittorrent.preferredSize', 'bittorrent.preferredSize (bytes) must not be above bittorrent.requiredSize')
  }
  if (cfg.transfer.backoffBaseSeconds > cfg.transfer.backoffMaxSeconds) {
    failPair('transfer.backoffMaxSeconds', 'transfer.backoffBaseSeconds', 'transfer.backoffBaseSeconds must not be above transfer.backoffMaxSeconds')
  }
  if (cfg.allowPeers.length > 0) {
    for (const addr of cfg.bootstrap) {
      const peer = addr.slice(addr.lastIndexOf('/p2p/') + 5)
      if (!cfg.allowPeers.includes(peer)) {
        fail('allowPeers', `does not list bootstrap peer ${peer} (${addr}); the connection gater would refuse it`)
      }
    }
  }
  if (cfg.node.ephemeral && cfg.replication.strategy === 'pull') {
    fail('replication.strategy', `'pull' makes a node hold everything it should; an ephemeral (spot) node cannot promise that. Use auto or ephemeral`)
  }
  checkSinkContradictions(cfg, fail)
}

function roleAllowed(p: { roles: string[]; allowCoordinators: boolean }, role: string): boolean {
  if (p.roles.length > 0) return p.roles.includes(role)
  return role !== 'coordinator' || p.allowCoordinators
}

/** The value at a dotted key of the resolved config, for messages. */
function valueAt(cfg: ResolvedConfig, key: string): string {
  let v: unknown = cfg
  for (const part of key.split('.')) v = v != null && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined
  return JSON.stringify(v) ?? 'unset'
}

/** Policies may only name configured sinks; requireBackupForDelete needs a sink. */
export function checkSinkContradictions(cfg: ResolvedConfig, fail: (key: string, message: string) => never): void {
  const sinks = Object.keys(cfg.sinks.targets)
  for (const p of cfg.resolvedPolicies) {
    for (const s of p.backup) {
      if (!sinks.includes(s)) fail(`policies.${p.name}.backup`, `names sink '${s}', which is not configured under sinks (${sinks.join(', ') || 'none'})`)
    }
    if (p.backup.length > 0 && p.backupCopies > p.backup.length) {
      fail(`policies.${p.name}.backupCopies`, `is ${p.backupCopies} but policies.${p.name}.backup lists only ${p.backup.length} sink(s)`)
    }
  }
  if (cfg.disk.requireBackupForDelete && sinks.length === 0) {
    fail('disk.requireBackupForDelete', 'is true but no sink is configured under sinks: no local file could ever be deleted')
  }
}
