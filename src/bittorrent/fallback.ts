import type { Torrent, Wire } from 'webtorrent'
import type { ManifestEntry } from '../../protocols/manifest/index.js'
import type { Metrics } from '../api/metrics.js'
import { digestFile } from '../catalog/hasher.js'
import type { ClusterView } from '../cluster/view.js'
import type { EventLog } from '../state/event-log.js'
import type { Progress } from '../transfer/download.js'
import type { CircuitBreakers } from '../transfer/circuit-breaker.js'
import type { FallbackResult, TransferFallback, Transport } from '../transfer/manager.js'
import type { Clock } from '../util/clock.js'
import { errorMessage, InvalidMessageError, NotFoundError, StalledError, TimeoutError } from '../util/errors.js'
import type { StagingFsync } from '../util/fs.js'
import type { Logger } from '../util/log.js'
import type { BtClient } from './client.js'
import { btAddresses } from './peers.js'
import { transportOrder, type TransportPolicy } from './policy.js'
import { stagingStore } from './store.js'
import type { StagedDigest } from './stream-digest.js'
import type { TorrentCache } from './torrent-cache.js'
import { isInfoHash, pieceLengthFor, readTorrentFile } from './torrent-meta.js'

export interface FallbackInit {
  client: BtClient
  cache: TorrentCache
  view: ClusterView
  policy: TransportPolicy
  /** Nothing verified for this long: the BitTorrent attempt is given up (transfer.stallSeconds). */
  stallMs: number
  /** Upper bound for one BitTorrent attempt (transfer.timeoutSeconds). */
  timeoutMs: number
  /**
   * BitTorrent peers by peer ID (an instance of their own: lying over
   * BitTorrent says nothing of a peer's libp2p serving, where every chunk is
   * checked on its own). A peer whose pieces failed their hash, or whose
   * torrent's data failed the file's SHA-256, is tripped open: no
   * BitTorrent download adds it, and its torrents get no vote, until the
   * breaker half-opens; a download that completes from it closes it.
   */
  breakers: CircuitBreakers
  /** fsync of staging files (tests make it fail); default fsync(2). */
  stagingFsync?: StagingFsync
  events: EventLog
  metrics: Metrics
  clock: Clock
  log: Logger
}

/** A peer whose pieces alone failed their SHA-1 this often is dropped for the rest of the download. */
const MAX_STRIKES = 3
const TICK_MS = 1000

/**
 * The transfer manager's BitTorrent path. Peers come from the mesh: the
 * holders' health (their BitTorrent port and addresses), plus the operator's
 * trackers when there are any. The torrent is the one the holders announce
 * in their manifests (40 hex digits, checked); its metadata is checked
 * against the catalog entry, data goes to the staging file meshsync named,
 * and the whole file's SHA-256 is computed for landing, which compares it
 * with the manifest and quarantines a mismatch. An infoHash whose data did
 * not match is not used again for that file: the next attempt takes another
 * holder's torrent, or libp2p.
 */
export class BittorrentFallback implements TransferFallback {
  readonly #init: FallbackInit
  /** sha256 -> infoHashes whose data failed the SHA-256. */
  readonly #bad = new Map<string, Set<string>>()
  /** Progress of the fetches running now, by SHA-256. */
  readonly #progress = new Map<string, () => Progress>()

  constructor(init: FallbackInit) {
    this.#init = init
  }

  /** The BitTorrent peers' breakers (by peer ID). */
  get breakers(): CircuitBreakers {
    return this.#init.breakers
  }

  order(entry: ManifestEntry): Transport[] {
    return transportOrder(entry, this.#init.policy)
  }

  /**
   * The infoHash to fetch: the one most holders announce, among those not
   * known bad; holders whose BitTorrent breaker is open have no vote.
   */
  chooseInfoHash(entry: ManifestEntry, holders: string[]): string | undefined {
    const bad = this.#bad.get(entry.sha256)
    const votes = new Map<string, number>()
    const vote = (h: string | undefined): void => {
      if (!isInfoHash(h) || bad?.has(h) === true) return
      votes.set(h, (votes.get(h) ?? 0) + 1)
    }
    const trusted = holders.filter((p) => this.#trusted(p))
    if (trusted.length === 0) vote(entry.infoHash)
    for (const p of trusted) vote(this.#entryOf(p, entry.sha256)?.infoHash)
    return [...votes].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0]
  }

  /** Not tripped open (half-open counts: it gets its trial). */
  #trusted(peer: string): boolean {
    return this.#init.breakers.state(peer) !== 'open'
  }

  #entryOf(peer: string, sha256: string): ManifestEntry | undefined {
    const p = this.#init.view.get(peer)
    if (p == null) return undefined
    for (const e of p.entries.values()) if (e.sha256 === sha256) return e
    return undefined
  }

  /** `ip:port` -> peer ID of the holders (and downloaders) that take BitTorrent connections for this torrent. */
  #peerAddrs(sha256: string, infoHash: string, holders: string[]): Map<string, string> {
    const out = new Map<string, string>()
    for (const p of holders) {
      const e = this.#entryOf(p, sha256)
      // a holder announcing another torrent of this file does not serve this one
      if (e != null && e.infoHash !== infoHash) continue
      if (!this.#trusted(p)) continue
      for (const a of btAddresses(this.#init.view.get(p)?.health)) out.set(a, p)
    }
    return out
  }

  progress(sha256: string): Progress | undefined {
    return this.#progress.get(sha256)?.()
  }

  async fetch(entry: ManifestEntry, holders: () => string[], stagingPath: string, signal: AbortSignal): Promise<FallbackResult> {
    const init = this.#init
    const infoHash = this.chooseInfoHash(entry, holders())
    if (infoHash == null) throw new NotFoundError(`${entry.path}: no holder announces a usable torrent of ${entry.sha256.slice(0, 12)}`)
    if (this.#peerAddrs(entry.sha256, infoHash, holders()).size === 0 && init.client.trackers.length === 0) {
      throw new NotFoundError(`${entry.path}: no holder of ${entry.sha256.slice(0, 12)} takes BitTorrent connections (or every one is held off after bad data)`)
    }
    init.log.info({ path: entry.path, infoHash }, 'fetching over BitTorrent')
    const t0 = init.clock.now()
    const got = await this.#download(entry, infoHash, holders, stagingPath, signal)
    const t1 = init.clock.now()
    // landing checks size and SHA-256 against the manifest: computed as the pieces were written, or read again after a resume
    const digest = got.digest ?? (await digestFile(stagingPath, { signal }))
    init.log.info(
      { path: entry.path, infoHash, sources: got.sources, metadataMs: got.metadataMs, downloadMs: t1 - t0, digestMs: init.clock.now() - t1, badPieces: got.badPieces },
      'fetched over BitTorrent',
    )
    if (digest.sha256 !== entry.sha256) {
      let set = this.#bad.get(entry.sha256)
      if (set == null) {
        set = new Set()
        this.#bad.set(entry.sha256, set)
      }
      set.add(infoHash)
      // honest holders seed only torrents of their own files: whoever served this one served a wrong file
      for (const p of got.sources) init.breakers.trip(p)
      init.log.warn(
        { path: entry.path, infoHash, sources: got.sources },
        'data from a torrent did not match the SHA-256; that torrent is not used again for this file, and its sources not over BitTorrent for a while',
      )
    } else {
      for (const p of got.sources) if (!got.banned.includes(p)) init.breakers.success(p)
      // pieces passed SHA-1 against this metadata and the whole file its SHA-256: the torrent is the file's
      try {
        await init.cache.put(await readTorrentFile(got.torrentFile, { sha256: entry.sha256, size: entry.size }))
      } catch (err) {
        init.log.debug({ path: entry.path, err: errorMessage(err) }, 'torrent of a fetched file not cached; it is built at landing')
      }
    }
    return { digest: digest.sha256, chunkSize: digest.chunkSize, chunkHashes: digest.chunkHashes, sources: got.sources, bytesReceived: got.bytesReceived, badChunks: got.badPieces }
  }

  #download(
    entry: ManifestEntry,
    infoHash: string,
    holders: () => string[],
    stagingPath: string,
    signal: AbortSignal,
  ): Promise<{ torrentFile: Uint8Array; sources: string[]; banned: string[]; bytesReceived: number; badPieces: number; metadataMs?: number; digest?: StagedDigest }> {
    const init = this.#init
    const started = init.clock.now()
    let lastProgress = started
    const byAddr = new Map<string, string>()
    const pieceSources = new Map<number, Set<string>>()
    const strikes = new Map<string, number>()
    const banned = new Set<string>()
    const used = new Set<string>()
    let badPieces = 0
    let metadataMs: number | undefined
    const staging = stagingStore({ path: stagingPath, size: entry.size, fsync: init.stagingFsync })
    const t: Torrent = init.client.fetch(infoHash, staging.Store)
    const who = (addr: string): string => byAddr.get(addr) ?? addr
    this.#progress.set(entry.sha256, () => {
      const pieces = t.pieces.length
      let done = 0
      for (let i = 0; i < pieces; i++) if (t.bitfield?.get(i) === true) done++
      return {
        via: 'bittorrent',
        bytes: Math.min(entry.size, t.downloaded),
        total: entry.size,
        chunksDone: done,
        chunks: pieces,
        sources: t.wires.map((w) => who(wireAddr(w))),
        rate: t.downloadSpeed,
      }
    })

    const addPeers = (): void => {
      if (t.destroyed || !isInfoHash(t.infoHash)) return
      for (const [addr, peer] of this.#peerAddrs(entry.sha256, infoHash, holders())) {
        byAddr.set(addr, peer)
        if (!banned.has(addr)) t.addPeer(addr)
      }
    }

    const ban = (addr: string): void => {
      banned.add(addr)
      // webtorrent never penalises a peer: keep it from reconnecting, then drop it
      const p = t._peers?.get(addr)
      if (p != null) p.retries = Number.MAX_SAFE_INTEGER
      t.removePeer(addr)
      const peer = byAddr.get(addr)
      if (peer != null) init.breakers.trip(peer)
      init.log.warn({ path: entry.path, peer: who(addr), infoHash }, 'BitTorrent peer sent pieces that failed their hash; dropped, and not used over BitTorrent for a while')
    }

    return new Promise((resolve, reject) => {
      let settled = false
      const timer = setInterval(() => tick(), TICK_MS)
      const finish = (err: unknown): void => {
        if (settled) return
        settled = true
        clearInterval(timer)
        this.#progress.delete(entry.sha256)
        signal.removeEventListener('abort', onAbort)
        // the store closes (fsync) before this resolves; the staging file stays for the next attempt or landing
        void init.client.remove(t).then(() => {
          const syncError = staging.syncError()
          if (err != null) reject(err)
          else if (syncError != null) reject(syncError)
          else
            staging.digest().then(
              (digest) =>
                resolve({ torrentFile: t.torrentFile, sources: [...used].map(who), banned: [...banned].map(who), bytesReceived: t.received, badPieces, metadataMs, digest }),
              reject,
            )
        })
      }
      const onAbort = (): void => finish(signal.reason)
      const tick = (): void => {
        const now = init.clock.now()
        if (now - started >= init.timeoutMs) finish(new TimeoutError(`${entry.path}: BitTorrent not done within ${init.timeoutMs} ms`))
        else if (now - lastProgress >= init.stallMs) {
          init.events.emit('sync_stalled', { sha256: entry.sha256, path: entry.path, idleMs: now - lastProgress, sources: t.wires.map((w) => who(wireAddr(w))), via: 'bittorrent' })
          finish(new StalledError(`${entry.path}: BitTorrent verified nothing for ${now - lastProgress} ms (${t.numPeers} peers)`))
        } else addPeers()
      }
      signal.addEventListener('abort', onAbort, { once: true })
      if (signal.aborted) return onAbort()

      t.once('infoHash', () => addPeers())
      t.once('metadata', () => {
        lastProgress = init.clock.now()
        metadataMs = lastProgress - started
        const problem =
          t.length !== entry.size
            ? `length ${t.length}, the catalog says ${entry.size}`
            : t.files.length !== 1
              ? `${t.files.length} files`
              : t.name !== entry.sha256
                ? `name ${JSON.stringify(t.name).slice(0, 80)} is not the file's SHA-256`
                : t.pieceLength !== pieceLengthFor(entry.size)
                  ? `piece length ${t.pieceLength}`
                  : undefined
        if (problem != null) finish(new InvalidMessageError(`${entry.path}: torrent ${infoHash} is not meshsync's torrent of this file: ${problem}`))
      })
      t.on('ready', () => {
        lastProgress = init.clock.now()
      })
      t.on('wire', (wire: Wire, addr: string) => {
        wire.on('piece', (index) => {
          let s = pieceSources.get(index)
          if (s == null) {
            s = new Set()
            pieceSources.set(index, s)
          }
          s.add(addr)
          used.add(addr)
        })
      })
      t.on('verified', (index) => {
        lastProgress = init.clock.now()
        pieceSources.delete(index)
      })
      t.on('warning', (err) => {
        const m = /^Piece (\d+) failed verification$/.exec(errorMessage(err))
        if (m == null) return
        badPieces++
        const index = Number(m[1])
        const srcs = [...(pieceSources.get(index) ?? [])]
        pieceSources.delete(index)
        for (const addr of srcs) {
          init.metrics.chunksRejected.inc({ peer: who(addr) })
          init.events.emit('chunk_rejected', { peer: who(addr), sha256: entry.sha256, path: entry.path, piece: index, via: 'bittorrent', ambiguous: srcs.length > 1 })
        }
        // only a piece with a single source is that source's fault
        if (srcs.length !== 1) return
        const addr = srcs[0]!
        const n = (strikes.get(addr) ?? 0) + 1
        strikes.set(addr, n)
        if (n >= MAX_STRIKES && !banned.has(addr)) ban(addr)
      })
      t.on('done', () => finish(undefined))
      t.on('error', (err) => finish(typeof err === 'string' ? new Error(err) : err))
    })
  }
}

/** A wire's peer as `ip:port`, the key peers are added and named by. */
function wireAddr(w: Wire): string {
  return `${w.remoteAddress}:${w.remotePort}`
}
