import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { errorMessage } from '../util/errors.js'
import type { Logger } from '../util/log.js'
import type { Mesh } from './libp2p.js'

/**
 * Puts the addresses a peer announces in its health (signed by that peer, so
 * only its own) into libp2p's peer store. A dial by peer ID (manifest sync,
 * transfers, attestations) then finds a peer that restarted on a new port
 * without a DHT lookup, which on a loaded cluster can fail for minutes: two
 * restarted spot nodes that had never been connected could not pull each
 * other's manifests. Written only when a peer's list changes.
 */
export class AddressBook {
  readonly #mesh: Mesh
  readonly #log: Logger
  readonly #last = new Map<string, string>()

  constructor(mesh: Mesh, log: Logger) {
    this.#mesh = mesh
    this.#log = log
  }

  learn(peerId: string, addrs: string[]): void {
    const key = addrs.join(' ')
    if (this.#last.get(peerId) === key) return
    this.#last.set(peerId, key)
    const multiaddrs: Multiaddr[] = []
    for (const a of addrs) {
      try {
        multiaddrs.push(multiaddr(a))
      } catch {
        // validated as a multiaddr string already; one this version cannot parse is skipped
      }
    }
    if (multiaddrs.length === 0) return
    this.#mesh.peerStore.merge(peerIdFromString(peerId), { multiaddrs }).catch((err: unknown) => {
      this.#log.debug({ peer: peerId, err: errorMessage(err) }, 'could not note a peer’s addresses')
    })
  }
}
