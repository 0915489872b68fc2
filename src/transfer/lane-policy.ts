import { peerIdFromString } from '@libp2p/peer-id'
import type { LaneUse } from '../../protocols/blob/client.js'
import { ipOfAddr, LaneServer, plainIp } from '../../protocols/blob/lane/index.js'
import type { ResolvedConfig } from '../config/load.js'
import type { Mesh } from '../mesh/libp2p.js'
import type { EventLog } from '../state/event-log.js'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/log.js'

/** What the lane policy needs of the node (read when called: the mesh starts after the lane). */
export interface LaneHost {
  readonly config: ResolvedConfig
  readonly clock: Clock
  readonly log: Logger
  readonly events: EventLog
  readonly mesh: Mesh
}

/** IPs of the node's open libp2p connections, of one peer or of all (every one passed the gater, and pnet with a swarm key). */
export function connectionIps(mesh: Mesh, peer?: string): string[] {
  let conns: ReturnType<Mesh['getConnections']>
  try {
    conns = peer != null ? mesh.getConnections(peerIdFromString(peer)) : mesh.getConnections()
  } catch {
    return []
  }
  const out = new Set<string>()
  for (const c of conns) {
    if (c.status !== 'open') continue
    const ip = ipOfAddr(c.remoteAddr.toString())
    if (ip != null) out.add(plainIp(ip))
  }
  return [...out]
}

/**
 * Starts the lane listener unless `transfer.lane` is off. A lane that cannot
 * listen (port in use) is logged and left out: serving goes on over libp2p.
 */
export async function startLane(node: LaneHost): Promise<LaneServer | undefined> {
  const t = node.config.transfer
  if (t.lane === 'off') return undefined
  try {
    const lane = await LaneServer.start({
      port: t.lanePort,
      peerIps: (peer) => connectionIps(node.mesh, peer),
      isClusterIp: (ip) => node.mesh != null && connectionIps(node.mesh).includes(ip),
      now: () => node.clock.now(),
      onRefused: (reason, ip, detail) => node.events.emit('lane_refused', { reason, ip, message: detail }),
    })
    node.log.info({ port: lane.port }, 'blob lane listening')
    return lane
  } catch (err) {
    node.log.warn({ port: t.lanePort, err: (err as Error).message }, 'blob lane could not listen; transfers use the libp2p stream only')
    return undefined
  }
}

/** How this node's downloads use lanes (undefined = never ask for one). */
export function laneUse(node: LaneHost): () => LaneUse | undefined {
  return () => {
    const mode = node.config.transfer.lane
    if (mode === 'off') return undefined
    return {
      mode,
      onFallback: (peer, sha256, reason, message) => {
        node.events.emit('lane_fallback', { peer, sha256, reason, message })
        node.log.debug({ peer, sha256, reason, message }, 'lane not used; chunks go over the libp2p stream')
      },
    }
  }
}
