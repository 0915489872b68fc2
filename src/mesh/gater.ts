import type { ConnectionGater, PeerId } from '@libp2p/interface'

/**
 * The identity check: with an allowlist, only those peer IDs may connect
 * (pnet keeps outsiders out but proves no identity). `block` cuts a peer off
 * at runtime (operators, and the simulation's partitions).
 */
export class PeerGater {
  readonly #allow: Set<string> | undefined
  readonly #blocked = new Set<string>()
  /** Connections refused, for metrics. */
  refused = 0

  constructor(allowPeers: string[]) {
    this.#allow = allowPeers.length > 0 ? new Set(allowPeers) : undefined
  }

  block(peerIds: Iterable<string>): void {
    for (const p of peerIds) this.#blocked.add(p)
  }

  unblock(peerIds?: Iterable<string>): void {
    if (peerIds == null) this.#blocked.clear()
    else for (const p of peerIds) this.#blocked.delete(p)
  }

  /** Blocked at runtime, or outside the allowlist (no counting: a question, not a refusal). */
  isBlocked(peerId: string): boolean {
    return this.#blocked.has(peerId) || (this.#allow != null && !this.#allow.has(peerId))
  }

  get blocked(): string[] {
    return [...this.#blocked]
  }

  denies(peer: PeerId | string): boolean {
    const id = peer.toString()
    const deny = this.#blocked.has(id) || (this.#allow != null && !this.#allow.has(id))
    if (deny) this.refused++
    return deny
  }

  /** The libp2p connection gater. */
  gater(): ConnectionGater {
    return {
      denyDialPeer: (peerId) => this.denies(peerId),
      denyInboundEncryptedConnection: (peerId) => this.denies(peerId),
      denyOutboundEncryptedConnection: (peerId) => this.denies(peerId),
    }
  }
}
