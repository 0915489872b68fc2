import { ConfigError } from '../util/errors.js'
import type { ResolvedConfig } from './load.js'

/**
 * Rules that no schema can express: values that are each fine but contradict
 * each other. Each failure names the key an operator has to change.
 */
export function checkContradictions(cfg: ResolvedConfig, sourceOf: (key: string) => string | undefined): void {
  const fail = (key: string, message: string): never => {
    const source = sourceOf(key)
    throw new ConfigError(key, `${message}${source != null ? ` (from ${source})` : ''}`)
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
  if (!(d.pushAt <= d.urgentAt && d.urgentAt <= d.cleanupAt)) {
    fail('disk.cleanupAt', `thresholds must rise: pushAt ${d.pushAt} <= urgentAt ${d.urgentAt} <= cleanupAt ${d.cleanupAt}`)
  }
  if (d.quota != null && d.minFree >= d.quota) {
    fail('disk.minFree', `is ${d.minFree} bytes but the quota is only ${d.quota}`)
  }
  const g = cfg.gossip
  if (g.suspectAfterSeconds <= g.healthIntervalSeconds) {
    fail('gossip.suspectAfterSeconds', `(${g.suspectAfterSeconds}) must be longer than gossip.healthIntervalSeconds (${g.healthIntervalSeconds}), or every peer goes suspect between two messages`)
  }
  if (g.downAfterSeconds <= g.suspectAfterSeconds) {
    fail('gossip.downAfterSeconds', `(${g.downAfterSeconds}) must be longer than gossip.suspectAfterSeconds (${g.suspectAfterSeconds})`)
  }
  const bt = cfg.bittorrent
  if (bt.preferredSize > bt.requiredSize) {
    fail('bittorrent.preferredSize', `(${bt.preferredSize} bytes) is above bittorrent.requiredSize (${bt.requiredSize} bytes)`)
  }
  if (cfg.transfer.backoffBaseSeconds > cfg.transfer.backoffMaxSeconds) {
    fail('transfer.backoffBaseSeconds', `is above transfer.backoffMaxSeconds`)
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
}

function roleAllowed(p: { roles: string[]; allowCoordinators: boolean }, role: string): boolean {
  if (p.roles.length > 0) return p.roles.includes(role)
  return role !== 'coordinator' || p.allowCoordinators
}
