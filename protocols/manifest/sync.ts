import { lpStream } from '@libp2p/utils'
import type { PeerId, Stream, Connection, AbortOptions, Startable } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { InvalidMessageError } from '../../src/util/errors.js'
import { decodePage, decodePageRequest, encodePage, encodePageRequest, type ManifestEntry, type ManifestPage } from './codec.js'
import { MANIFEST_SYNC_PROTOCOL, MAX_PAGE_BYTES, MAX_PAGES, MAX_PAGE_ENTRIES, MAX_REQUEST_BYTES, PAGE_TIMEOUT_MS } from './constants.js'

/** What the node gives the protocol: its own manifest, a page at a time. */
export interface ManifestSource {
  page(after: string, limit: number): ManifestPage
}

export interface ManifestSyncComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
}

export interface ManifestSyncInit {
  source: ManifestSource
  /** Invalid requests are reported here (the peer's score drops). */
  onInvalid?(peer: PeerId, err: Error): void
  /** Concurrent inbound requests per connection. Default 4. */
  maxInboundStreams?: number
}

export interface FetchedManifest {
  seq: number
  digest: string
  entries: ManifestEntry[]
}

/**
 * The manifest anti-entropy protocol: one page per stream. The server answers
 * from its own manifest only; a client pulls every page of a peer's manifest.
 */
export class ManifestSync implements Startable {
  readonly #components: ManifestSyncComponents
  readonly #init: ManifestSyncInit

  constructor(components: ManifestSyncComponents, init: ManifestSyncInit) {
    this.#components = components
    this.#init = init
  }

  async start(): Promise<void> {
    await this.#components.registrar.handle(MANIFEST_SYNC_PROTOCOL, (stream, connection) => this.#serve(stream, connection), {
      maxInboundStreams: this.#init.maxInboundStreams ?? 4,
    })
  }

  async stop(): Promise<void> {
    await this.#components.registrar.unhandle(MANIFEST_SYNC_PROTOCOL)
  }

  async #serve(stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(PAGE_TIMEOUT_MS)
    const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
    try {
      const req = decodePageRequest((await lp.read({ signal })).subarray())
      const page = this.#init.source.page(req.after, req.limit)
      await lp.write(encodePage(page), { signal })
      await stream.close({ signal })
    } catch (err) {
      if (err instanceof InvalidMessageError) this.#init.onInvalid?.(connection.remotePeer, err)
      stream.abort(err as Error)
    }
  }

  /** Fetches one page of `peer`'s manifest. */
  async fetchPage(peer: PeerId, after: string, options: AbortOptions = {}): Promise<ManifestPage> {
    const signal = options.signal != null ? AbortSignal.any([options.signal, AbortSignal.timeout(PAGE_TIMEOUT_MS)]) : AbortSignal.timeout(PAGE_TIMEOUT_MS)
    const stream = await this.#components.connectionManager.openStream(peer, MANIFEST_SYNC_PROTOCOL, { signal })
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_PAGE_BYTES })
      await lp.write(encodePageRequest(after, MAX_PAGE_ENTRIES), { signal })
      const page = decodePage((await lp.read({ signal })).subarray(), after)
      await stream.close({ signal }).catch(() => {})
      return page
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  /**
   * Fetches `peer`'s whole manifest. If it changes while the pages are read
   * (the seq moves), starts again, up to three times.
   */
  async fetchManifest(peer: PeerId, options: AbortOptions = {}): Promise<FetchedManifest> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const entries: ManifestEntry[] = []
      let after = ''
      let first: ManifestPage | undefined
      let moved = false
      for (let i = 0; i < MAX_PAGES; i++) {
        const page = await this.fetchPage(peer, after, options)
        first ??= page
        if (page.seq !== first.seq) {
          moved = true
          break
        }
        entries.push(...page.entries)
        const last = page.entries[page.entries.length - 1]
        if (!page.more || last == null) break
        after = last.path
      }
      if (!moved && first != null) {
        if (entries.length !== first.count) {
          throw new InvalidMessageError(`manifest from ${peer} has ${entries.length} entries, its pages said ${first.count}`)
        }
        return { seq: first.seq, digest: first.digest, entries }
      }
    }
    throw new InvalidMessageError(`manifest of ${peer} kept changing while it was read`)
  }
}

export function manifestSync(init: ManifestSyncInit): (components: ManifestSyncComponents) => ManifestSync {
  return (components) => new ManifestSync(components, init)
}
