import type { PeerJson } from '../node/read-models.js'
import type { ApiClient } from './api-client.js'

/**
 * The distinctive part of a peer ID: its last 8 characters. Every Ed25519
 * libp2p ID starts `12D3KooW`, so the start tells peers apart not at all.
 */
export function idTail(peerId: string): string {
  return peerId.length > 10 ? `…${peerId.slice(-8)}` : peerId
}

/** `name (…tail)` when the node's name is known, else `…tail`. */
export function peerLabel(peerId: string | undefined, name: string | undefined): string {
  if (peerId == null || peerId === '') return '-'
  return name != null && name !== '' ? `${name} (${idTail(peerId)})` : idTail(peerId)
}

/**
 * Names of the peers a node knows (GET /peers, and its own from GET /status),
 * for labelling peer IDs in CLI output. A peer ID not yet known makes it ask
 * again, at most every 5 s (for `events -f`, where peers join as it runs).
 */
export class PeerNames {
  readonly #api: ApiClient
  readonly #names = new Map<string, string>()
  #loadedAt = 0

  constructor(api: ApiClient) {
    this.#api = api
  }

  async load(): Promise<this> {
    this.#loadedAt = Date.now()
    const [peers, status] = await Promise.all([
      this.#api.get<PeerJson[]>('/peers').catch(() => [] as PeerJson[]),
      this.#api.get<{ peerId?: string; name?: string }>('/status').catch(() => ({}) as { peerId?: string; name?: string }),
    ])
    for (const p of peers) if (p.name != null) this.#names.set(p.peerId, p.name)
    if (status.peerId != null && status.name != null) this.#names.set(status.peerId, status.name)
    return this
  }

  name(peerId: string): string | undefined {
    return this.#names.get(peerId)
  }

  label(peerId: string | undefined): string {
    return peerLabel(peerId, peerId != null ? this.#names.get(peerId) : undefined)
  }

  /** Like label(), but first reloads the names if this ID is new and the last load is 5 s old. */
  async labelFresh(peerId: string | undefined): Promise<string> {
    if (peerId != null && !this.#names.has(peerId) && Date.now() - this.#loadedAt >= 5000) await this.load()
    return this.label(peerId)
  }
}
