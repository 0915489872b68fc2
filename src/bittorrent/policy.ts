import type { ManifestEntry } from '../../protocols/manifest/index.js'
import type { Transport } from '../transfer/manager.js'

export interface TransportPolicy {
  /** BitTorrent runs on this node. */
  enabled: boolean
  /** Files at or above this size may move over BitTorrent. */
  preferredSize: number
  requiredSize: number
  /** At or above requiredSize, BitTorrent goes first. */
  preferForRequired: boolean
}

/**
 * Which transports move a file, in the order they are tried:
 * - below preferredSize: libp2p only;
 * - from preferredSize: libp2p, then BitTorrent when libp2p fails, stalls or
 *   finds no reachable holder;
 * - at or above requiredSize with preferForRequired: BitTorrent, then libp2p.
 */
export function transportOrder(entry: Pick<ManifestEntry, 'size'>, p: TransportPolicy): Transport[] {
  if (!p.enabled || entry.size < p.preferredSize) return ['libp2p']
  if (p.preferForRequired && entry.size >= p.requiredSize) return ['bittorrent', 'libp2p']
  return ['libp2p', 'bittorrent']
}
