// Type declarations for the parts of webtorrent 3.0.x (and its helper packages) that meshsync
// uses. webtorrent ships no types. Written against webtorrent 3.0.21, create-torrent 6.1.3,
// parse-torrent 11.0.24 and bittorrent-tracker 11.2.3; see docs/research/webtorrent.md for the
// behaviour behind each comment. Only what was checked in the spike is declared.

declare module 'webtorrent' {
  import type { EventEmitter } from 'node:events'
  import type { AddressInfo } from 'node:net'

  /** Where a peer address came from (`Peer.SOURCE_*`). */
  export type PeerSource = 'manual' | 'tracker' | 'dht' | 'lsd' | 'ut_pex'

  /** Tracker options for the client; `false` disables every tracker (HTTP, UDP and WebSocket). */
  export interface TrackerOptions {
    /** Extra announce URLs, added only to NON-private torrents. */
    announce?: string[]
    /** Extra fields for each announce (e.g. `{ numwant }`). */
    getAnnounceOpts?: () => Record<string, unknown>
  }

  export interface WebTorrentOptions {
    /** TCP port to listen on (all interfaces; there is no bind-address option). 0 or unset: ephemeral. */
    torrentPort?: number
    /** DHT port; only used when `dht` is enabled. */
    dhtPort?: number
    /** `false` disables the mainline DHT (default: enabled). */
    dht?: false | Record<string, unknown>
    /** `false` disables trackers entirely (default: enabled with the torrent's announce URLs). */
    tracker?: false | TrackerOptions
    /** Local Service Discovery (BEP 14, multicast). Default: true. */
    lsd?: boolean
    /** Peer exchange (BEP 11). Default: true (never used for private torrents). */
    utPex?: boolean
    /** UPnP port mapping on the LAN gateway. Default: true. */
    natUpnp?: boolean | 'permanent'
    /** NAT-PMP port mapping. Default: true. */
    natPmp?: boolean
    /** BEP 19 web seeds. Default: true. */
    webSeeds?: boolean
    /** uTP (needs the utp-native addon). Default: true when available. */
    utp?: boolean
    /** Max connections per torrent. Default: 55. */
    maxConns?: number
    /** Message stream encryption: 0 off, 1 (default) obfuscated handshake with plaintext payload, 2 RC4 only. */
    secure?: 0 | 1 | 2
    /** Bytes per second, -1 (default) for unlimited. */
    downloadLimit?: number
    uploadLimit?: number
    /** Peer id as 40 hex chars or 20 bytes; default `-WW0300-` + random. */
    peerId?: string | Uint8Array
    nodeId?: string | Uint8Array
    userAgent?: string
    /** Default true: a finished torrent still dials peers it discovers. */
    seedOutgoingConnections?: boolean
    /**
     * IP block list: array of ranges, or a path / http URL that is loaded (fetched!) at start.
     * Only checked by `torrent.addPeer()`, not for incoming connections or reconnects.
     */
    blocklist?: string | Array<string | { start: string; end?: string }>
  }

  /** The constructor webtorrent calls for each torrent's storage (abstract-chunk-store). */
  export interface ChunkStoreOptions {
    /** Total torrent length in bytes. */
    length: number
    /** Files and names from the torrent metadata: never use them for paths. */
    files: TorrentFile[]
    name: string
    path: string
    torrent: Torrent
    addUID: boolean
    rootDir: string | null
    max: number
    [key: string]: unknown
  }

  export type ChunkStoreCallback<T = void> = (err: Error | null, value?: T) => void

  export interface ChunkStore {
    readonly chunkLength: number
    put(index: number, buf: Uint8Array, cb?: ChunkStoreCallback): void
    get(index: number, opts: { offset?: number; length?: number } | null, cb: ChunkStoreCallback<Uint8Array>): void
    get(index: number, cb: ChunkStoreCallback<Uint8Array>): void
    close(cb?: ChunkStoreCallback): void
    destroy(cb?: ChunkStoreCallback): void
  }

  export type ChunkStoreConstructor = new (chunkLength: number, opts: ChunkStoreOptions) => ChunkStore

  export interface AddOptions {
    /**
     * Folder for the default fs-chunk-store, which writes `path/<file path from metadata>`.
     * Default `/tmp/webtorrent`. Ignored by a custom `store`.
     */
    path?: string
    /** Custom storage; meshsync passes a store bound to a staging file it names itself. */
    store?: ChunkStoreConstructor
    /** Options merged into the store constructor's options (torrent-derived keys win). */
    storeOpts?: Record<string, unknown>
    /** Pieces kept in an in-memory LRU in front of the store. Default 20; 0 disables. */
    storeCacheSlots?: number
    /** `torrent.destroy()` also destroys (deletes) the store's data. Default false. */
    destroyStoreOnDestroy?: boolean
    /** Mark every piece present without hashing (the data is trusted blindly). */
    skipVerify?: boolean
    /** Overrides the private flag of the metadata (true: no DHT, no PEX, no client-level trackers). */
    private?: boolean
    /** Extra announce URLs for this torrent. */
    announce?: string[]
    /** Extra web seed URLs. */
    urlList?: string[]
    /** Piece selection. Default 'sequential'. */
    strategy?: 'sequential' | 'rarest'
    /** Number of unchoke slots; false or 0 uploads to nobody. Default 10. */
    uploads?: number | false
    /** Start with nothing selected. */
    deselect?: boolean
    paused?: boolean
    alwaysChokeSeeders?: boolean
    /** Seconds between 'noPeers' checks. Default 30. */
    noPeersIntervalTime?: number
    /** Bitfield of pieces already present (skips hashing those pieces). */
    bitfield?: Uint8Array
  }

  /** `client.seed()` options: add options plus create-torrent options. */
  export interface SeedOptions extends AddOptions {
    /** Name in the metadata (part of the info dict, so it changes the infoHash). Default: file basename. */
    name?: string
    comment?: string
    createdBy?: string
    creationDate?: Date | number
    /** Piece length in bytes (power of two). Default: derived from size, 16 KiB..4 MiB. */
    pieceLength?: number
    maxPieceLength?: number
    /** announce: [] (or announceList: []) keeps create-torrent from adding public trackers. */
    announceList?: string[][]
    /** Extra keys for the info dict. */
    info?: Record<string, unknown>
  }

  export interface TorrentFile {
    readonly name: string
    /** Path from the metadata (name/...): untrusted, never a filesystem path for meshsync. */
    readonly path: string
    readonly length: number
    readonly offset: number
    readonly done: boolean
    readonly downloaded: number
    readonly progress: number
  }

  export interface WireEvents {
    /** A data block arrived (before the piece's SHA-1 check). */
    piece: [index: number, offset: number, buffer: Uint8Array]
    download: [bytes: number]
    upload: [bytes: number]
    choke: []
    unchoke: []
    timeout: []
    close: []
  }

  /** A bittorrent-protocol wire (one peer connection, after handshake). */
  export interface Wire {
    /** Remote peer id, hex. */
    readonly peerId: string | null
    readonly remoteAddress?: string
    readonly remotePort?: number
    /** 'tcpIncoming' | 'tcpOutgoing' | 'utpIncoming' | 'utpOutgoing' | 'webrtc' | 'webSeed' */
    readonly type: string
    readonly uploaded: number
    readonly downloaded: number
    readonly amChoking: boolean
    readonly peerChoking: boolean
    destroy(): void
    on<K extends keyof WireEvents>(event: K, listener: (...args: WireEvents[K]) => void): this
    once<K extends keyof WireEvents>(event: K, listener: (...args: WireEvents[K]) => void): this
    off<K extends keyof WireEvents>(event: K, listener: (...args: WireEvents[K]) => void): this
  }

  export interface TorrentEvents {
    /** The infoHash is known; `addPeer()` is allowed from here on (not before). */
    infoHash: [infoHash: string]
    /** Metadata known (from the .torrent or ut_metadata); the store object exists but nothing was written yet. */
    metadata: []
    /** Existing data verified; downloading starts. */
    ready: []
    /** Every piece verified and stored. */
    done: []
    /** Non-fatal: e.g. `Piece N failed verification` (no peer is named or penalised). */
    warning: [err: Error]
    /** Fatal for this torrent (it is destroyed). Without a listener it goes to `client.on('error')`. */
    error: [err: Error | string]
    wire: [wire: Wire, addr: string]
    /** Raw bytes received from a peer (protocol messages included); not a "piece arrived" signal. */
    download: [bytes: number]
    /** Raw bytes sent to a peer (protocol messages included). */
    upload: [bytes: number]
    /** A piece passed its SHA-1 check and was stored. */
    verified: [index: number]
    noPeers: [source: PeerSource]
    peer: [peer: string]
    invalidPeer: [peer: string]
    blockedPeer: [peer: string]
    idle: []
    close: []
    /** Only on torrents created by `client.seed()`. */
    seed: []
    trackerAnnounce: []
  }

  export class Torrent extends EventEmitter<TorrentEvents> {
    /** 40 lowercase hex chars; undefined until the 'infoHash' event. */
    readonly infoHash: string
    readonly magnetURI: string
    /** Bencoded .torrent (rebuilt from the parsed metadata); set once metadata is known. */
    readonly torrentFile: Uint8Array
    readonly name: string
    readonly length: number
    readonly pieceLength: number
    readonly lastPieceLength: number
    readonly files: TorrentFile[]
    readonly announce: string[]
    readonly urlList: string[]
    readonly private?: boolean
    readonly path: string
    readonly ready: boolean
    readonly done: boolean
    readonly paused: boolean
    readonly destroyed: boolean
    /** Verified bytes plus bytes of pieces in progress. */
    readonly downloaded: number
    /** Raw bytes received: protocol messages, duplicates and failed pieces included. */
    readonly received: number
    /** Raw bytes sent, protocol messages included. */
    readonly uploaded: number
    /** Bytes per second. */
    readonly downloadSpeed: number
    readonly uploadSpeed: number
    /** 0..1 */
    readonly progress: number
    readonly ratio: number
    /** Connected wires (after handshake). */
    readonly numPeers: number
    readonly timeRemaining: number
    readonly wires: Wire[]
    /** One entry per piece once the metadata is in (null where the piece is verified); empty before. */
    readonly pieces: unknown[]
    /** Verified pieces (null before the metadata). */
    readonly bitfield: { get(index: number): boolean } | null
    /**
     * Internal: peers by id (`ip:port` for TCP). meshsync sets `retries` high on a peer it
     * bans for bad pieces, so webtorrent does not reconnect it after `removePeer`.
     */
    readonly _peers?: Map<string, { retries: number }>
    /**
     * Dial `ip:port` (IPv6 as `[::1]:port`). Throws before the 'infoHash' event; returns false for
     * duplicates, invalid addresses, the client's own 127.0.0.1 port and blocked ips.
     */
    addPeer(peer: string): boolean
    removePeer(peer: string): void
    destroy(opts?: { destroyStore?: boolean } | null, cb?: (err?: Error | null) => void): void
    destroy(cb: (err?: Error | null) => void): void
    pause(): void
    resume(): void
    select(start: number, end: number, priority?: number | boolean, notify?: () => void): void
    deselect(start: number, end: number): void
    critical(start: number, end: number): void
  }

  export interface WebTorrentEvents {
    torrent: [torrent: Torrent]
    add: [torrent: Torrent]
    remove: [torrent: Torrent]
    seed: [torrent: Torrent]
    error: [err: Error | string]
    listening: []
    ready: []
    download: [bytes: number]
    upload: [bytes: number]
  }

  /**
   * An infoHash (40 hex chars), a magnet URI, or a .torrent file's bytes. Never pass a string
   * from a peer: anything else is tried as an http(s) URL (fetched) or a local file path (read).
   */
  export type TorrentId = string | Uint8Array

  /** A path to seed in place, or data (copied into the store). */
  export type SeedInput = string | string[] | Uint8Array | Uint8Array[]

  export default class WebTorrent extends EventEmitter<WebTorrentEvents> {
    constructor(opts?: WebTorrentOptions)
    static readonly WEBRTC_SUPPORT: boolean
    static readonly UTP_SUPPORT: boolean
    static readonly VERSION: string
    /** Hex. */
    readonly peerId: string
    readonly nodeId: string
    /** The bound TCP port once 'listening' fired (or the configured one before). */
    readonly torrentPort: number
    readonly listening: boolean
    readonly ready: boolean
    readonly destroyed: boolean
    readonly torrents: Torrent[]
    readonly downloadSpeed: number
    readonly uploadSpeed: number
    readonly progress: number
    readonly ratio: number
    /**
     * Every wire's bytes pass through `down.throttle()` and `up.throttle()` (streamx transforms, one per wire
     * and direction, made when the wire is set up); `destroy()` of each runs when the client is destroyed.
     * Replaceable right after construction (meshsync puts the node's own buckets there).
     */
    throttleGroups: { down: { throttle(): import('streamx').Transform; destroy(): void }; up: { throttle(): import('streamx').Transform; destroy(): void } }
    add(torrentId: TorrentId, opts?: AddOptions, ontorrent?: (torrent: Torrent) => void): Torrent
    add(torrentId: TorrentId, ontorrent: (torrent: Torrent) => void): Torrent
    /** Hashes the input with create-torrent, then seeds; `onseed` runs once it is seeding. */
    seed(input: SeedInput, opts?: SeedOptions, onseed?: (torrent: Torrent) => void): Torrent
    seed(input: SeedInput, onseed: (torrent: Torrent) => void): Torrent
    get(torrentId: TorrentId | Torrent): Promise<Torrent | null>
    /** Rejects if no such torrent. The default store keeps data unless `destroyStore: true`. */
    remove(
      torrentId: TorrentId | Torrent,
      opts?: { destroyStore?: boolean } | null,
      cb?: (err?: Error | null) => void,
    ): Promise<void>
    remove(torrentId: TorrentId | Torrent, cb: (err?: Error | null) => void): Promise<void>
    /** Throws if already destroyed. */
    destroy(cb?: (err?: Error | null) => void): void
    /** The TCP server's address once listening (`::` = all interfaces), else null. */
    address(): AddressInfo | null
    throttleDownload(rate: number): false | undefined
    throttleUpload(rate: number): false | undefined
  }
}

declare module 'create-torrent' {
  export interface CreateTorrentOptions {
    name?: string
    comment?: string
    createdBy?: string
    creationDate?: Date | number
    private?: boolean
    pieceLength?: number
    maxPieceLength?: number
    /** Without `announce` or `announceList`, public trackers are added. Pass []. */
    announce?: string[]
    announceList?: string[][]
    urlList?: string[]
    info?: Record<string, unknown>
    onProgress?: (hashedBytes: number, totalBytes: number) => void
  }
  export default function createTorrent(
    input: string | string[] | Uint8Array | Uint8Array[],
    opts: CreateTorrentOptions,
    cb: (err: Error | null, torrent: Uint8Array) => void,
  ): void
  /** The public trackers added when no announce list is given. */
  export const announceList: string[][]
}

declare module 'parse-torrent' {
  export interface ParsedFile {
    path: string
    name: string
    length: number
    offset: number
  }
  export interface ParsedTorrent {
    infoHash: string
    infoHashBuffer?: Uint8Array
    infoBuffer?: Uint8Array
    name?: string
    private?: boolean
    created?: Date
    createdBy?: string
    comment?: string
    announce: string[]
    urlList: string[]
    files?: ParsedFile[]
    length?: number
    pieceLength?: number
    lastPieceLength?: number
    /** SHA-1 of each piece, hex. */
    pieces?: string[]
    info?: Record<string, unknown>
  }
  /** Magnet URI, infoHash (hex/base32), or .torrent bytes; throws on anything else. Never touches the network. */
  export default function parseTorrent(torrentId: string | Uint8Array | ParsedTorrent): Promise<ParsedTorrent>
  export function toMagnetURI(parsed: Partial<ParsedTorrent> & { infoHash: string }): string
  export function toTorrentFile(parsed: ParsedTorrent): Uint8Array
}

declare module 'bittorrent-tracker' {
  import type { EventEmitter } from 'node:events'
  import type { Server as HttpServer } from 'node:http'

  export interface ServerOptions {
    /** HTTP tracker (default true). */
    http?: boolean | Record<string, unknown>
    /** UDP tracker (default true). */
    udp?: boolean | Record<string, unknown>
    /** WebSocket (WebRTC) tracker (default true). */
    ws?: boolean | Record<string, unknown>
    /** `/stats` and `/stats.json` on the HTTP server (default true). */
    stats?: boolean
    /** Announce interval to tell clients, ms (default 10 min). */
    interval?: number
    trustProxy?: boolean
    /** Allow-list hook: call cb(err) to refuse an infoHash. */
    filter?: (infoHash: string, params: Record<string, unknown>, cb: (err: Error | null) => void) => void
  }

  export interface ServerEvents {
    listening: []
    error: [err: Error]
    warning: [err: Error]
    start: [addr: string, params: Record<string, unknown>]
    complete: [addr: string, params: Record<string, unknown>]
    update: [addr: string, params: Record<string, unknown>]
    stop: [addr: string, params: Record<string, unknown>]
  }

  export class Server extends EventEmitter<ServerEvents> {
    constructor(opts?: ServerOptions)
    readonly http: HttpServer | null
    /** `listen(port, '127.0.0.1')` or `listen(port, { http: '127.0.0.1', udp: '127.0.0.1', udp6: '::1' })`. */
    listen(port: number, hostname?: string | { http?: string; udp?: string; udp6?: string }, onlistening?: () => void): void
    listen(port: number, onlistening: () => void): void
    close(cb?: () => void): void
  }
}
