import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { KEEP_ALIVE, type PrivateKey, type ServiceMap } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import { fastMsgId } from './fast-msg-id.js'
import type { PeerGater } from './gater.js'
import { failingCiphers, pskProtector } from './pnet.js'
import type { ConnectionFacts } from './reconnect.js'

export interface MeshInit {
  privateKey: PrivateKey
  listen: string[]
  announce: string[]
  bootstrap: string[]
  /** Swarm key file contents: a private network only nodes with the same key can join. */
  psk?: Uint8Array
  /** A private-network connection closed because its data path failed (see src/mesh/pnet.ts). */
  onConnectionError?: (err: Error, remoteAddr: string) => void
  /** Fault injection: the first N pnet connections fail (debug.failPnetConnections). */
  failPnetConnections?: number
  gater: PeerGater
  protocolPrefix: string
  /** Keep private and loopback addresses in the DHT. */
  lan: boolean
  /** Many nodes on one host (tests, simulation). */
  localCluster: boolean
  maxConnections: number
}

/** The yamux settings bulk transfers need (see docs/research/libp2p-throughput.md). */
export const YAMUX_INIT = {
  streamOptions: {
    // the window grows to this; initialStreamWindowSize stays at the spec's 256 KiB (both ends must agree)
    // (8 MiB: as fast as 16 MiB on loopback, and a receiver with several sources keeps less in flight)
    maxStreamWindowSize: 8 * 1024 * 1024,
    // a paused stream still receives what is in flight (up to a window): must exceed 2 x window + a frame
    maxReadBufferLength: 20 * 1024 * 1024,
  },
}

/**
 * Builds the libp2p node: TCP + noise + yamux, identify, ping, a private
 * Kademlia DHT, bootstrap, gossipsub, optional pnet and the peer gater, plus
 * the caller's protocol services.
 */
export async function createMesh<S extends ServiceMap>(init: MeshInit, // biome-ignore lint/suspicious/noExplicitAny: libp2p service factories take whichever components they declare
  services: { [K in keyof S]: (components: any) => S[K] }) {
  const node = await createLibp2p({
    privateKey: init.privateKey,
    addresses: { listen: init.listen, announce: init.announce.length > 0 ? init.announce : undefined },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux(YAMUX_INIT)],
    connectionProtector: init.psk != null ? pskProtector({ psk: init.psk, onError: init.onConnectionError, cipher: (init.failPnetConnections ?? 0) > 0 ? failingCiphers(init.failPnetConnections!) : undefined }) : undefined,
    connectionGater: init.gater.gater(),
    connectionManager: {
      maxConnections: init.maxConnections,
      ...(init.localCluster ? { inboundConnectionThreshold: 10_000, maxIncomingPendingConnections: 1000, maxParallelDials: 200 } : {}),
    },
    peerDiscovery: init.bootstrap.length > 0 ? [bootstrap({ list: init.bootstrap, timeout: 200 })] : [],
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: `${init.protocolPrefix}/kad/1.0.0`,
        clientMode: false,
        peerInfoMapper: init.lan ? passthroughMapper : removePrivateAddressesMapper,
        initialQuerySelfInterval: 500,
        allowQueryWithZeroPeers: false,
      }),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        // our messages are small; a larger one is a bug or an attack
        maxInboundDataLength: 4 * 1024 * 1024,
        // exact copies of an accepted message are dropped before their signature is checked again
        fastMsgIdFn: fastMsgId,
        ...(init.localCluster ? { scoreParams: { IPColocationFactorWeight: 0 } } : {}),
      }),
      ...services,
    },
  })
  return node as Libp2p<typeof node.services>
}

export type Mesh = Awaited<ReturnType<typeof createMesh>>

/** Gossipsub as the node uses it (the exported interface lacks the mesh view). */
export type Pubsub = import('@libp2p/gossipsub').GossipSub & { getMeshPeers(topic: string): string[] }

export function pubsubOf(mesh: { services: { pubsub: unknown } }): Pubsub {
  return mesh.services.pubsub as Pubsub
}

/** Streams that every connection carries in the background: gossip, DHT, identify, ping. */
function isBackgroundProtocol(protocol: string | undefined): boolean {
  return protocol == null || protocol === '' || protocol.startsWith('/meshsub/') || protocol.includes('/kad/') || protocol.startsWith('/ipfs/')
}

/** The node's connections as the reconnect loop's trimming sees them (one row per peer). */
export async function connectionFacts(mesh: Mesh): Promise<ConnectionFacts[]> {
  const pubsub = pubsubOf(mesh)
  const meshPeers = new Set(pubsub.getTopics().flatMap((t) => pubsub.getMeshPeers(t)))
  const now = Date.now()
  const byPeer = new Map<string, ConnectionFacts>()
  for (const c of mesh.getConnections()) {
    const peerId = c.remotePeer.toString()
    // libp2p's timeline is wall-clock milliseconds
    const ageMs = now - c.timeline.open
    const keep = meshPeers.has(peerId) || c.streams.some((s) => !isBackgroundProtocol(s.protocol))
    const prev = byPeer.get(peerId)
    byPeer.set(peerId, prev == null ? { peerId, ageMs, keep } : { peerId, ageMs: Math.max(prev.ageMs, ageMs), keep: prev.keep || keep })
  }
  // peers libp2p keeps alive (the DHT's closest peers): closing them only makes libp2p dial them again
  for (const f of byPeer.values()) {
    if (f.keep) continue
    const peer = await mesh.peerStore.get(peerIdFromString(f.peerId)).catch(() => undefined)
    if (peer != null && [...peer.tags.keys()].some((t) => t.startsWith(KEEP_ALIVE))) f.keep = true
  }
  return [...byPeer.values()]
}
