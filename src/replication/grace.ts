import type { PeerRecord } from '../cluster/view.js'

export interface GraceConfig {
  downGraceSeconds: number
  ephemeralDownGraceSeconds: number
}

/**
 * Whether a peer's copies still count: up, suspect, or down for less than
 * its grace period (shorter for ephemeral nodes). A peer never heard from
 * since this node started has no copies that count.
 */
export function copiesCount(p: PeerRecord, now: number, r: GraceConfig): boolean {
  if (p.state !== 'down') return true
  if (p.lastSeenMs == null) return false
  const graceMs = (p.health?.ephemeral === true ? r.ephemeralDownGraceSeconds : r.downGraceSeconds) * 1000
  return now - p.stateSinceMs < graceMs
}
