import { z } from 'zod'
import { parseBytes } from '../util/units.js'
import { policyBackupShape, sinksSchema } from '../sinks/config.js'

/**
 * The configuration of one node. Every key has a default so `meshsync start`
 * runs with no file at all. Objects are strict: an unknown key is an error
 * that names it (a typo must never silently fall back to a default).
 */

export const ROLES = ['coordinator', 'training', 'selfplay', 'storage', 'worker'] as const
export type Role = (typeof ROLES)[number]

export const PRIORITIES = { critical: 2.0, high: 1.5, normal: 1.0, low: 0.5, background: 0.25 } as const
export type Priority = keyof typeof PRIORITIES
const priorityNames = Object.keys(PRIORITIES) as [Priority, ...Priority[]]

/** Strategies as operators know them. Per node: how this node behaves. Per policy: how a kind spreads. */
export const NODE_STRATEGIES = ['auto', 'push_from_generator', 'ephemeral', 'pull'] as const
export const POLICY_STRATEGIES = ['push_from_generator', 'broadcast', 'gossip'] as const

export const KINDS = ['sqlite', 'npz', 'model', 'other'] as const
export type Kind = (typeof KINDS)[number]

const bytes = (what: string) =>
  z.union([z.number(), z.string()]).transform((v, ctx) => {
    const n = parseBytes(v)
    if (n == null) {
      ctx.addIssue({ code: 'custom', message: `expected ${what} such as 1048576, "512MiB" or "100MB/s", got ${JSON.stringify(v)}` })
      return z.NEVER
    }
    return n
  })

const fraction = z.number().gt(0).lte(1)
const seconds = z.number().nonnegative()
const hostPort = z.string().regex(/^[^:\s]+:[0-9]{1,5}$/, 'expected HOST:PORT, e.g. 127.0.0.1:8420')
const multiaddr = z.string().regex(/^\/(ip4|ip6|dns|dns4|dns6)\//, 'expected a multiaddr such as /ip4/0.0.0.0/tcp/4001')
const peerIdString = z.string().regex(/^(12D3Koo|Qm|16Uiu2)[1-9A-HJ-NP-Za-km-z]{30,60}$/, 'expected a libp2p peer ID')

const CIRCUIT_PRESETS = {
  default: { failures: 3, openSeconds: 60 },
  aggressive: { failures: 2, openSeconds: 30 },
  patient: { failures: 5, openSeconds: 120 },
} as const
export { CIRCUIT_PRESETS }

const policySchema = z.strictObject({
  /** Which files this policy covers: any listed kind, or any glob over the relative path. */
  match: z
    .strictObject({
      kinds: z.array(z.enum(KINDS)).default([]),
      globs: z.array(z.string().min(1)).default([]),
    })
    .default({ kinds: [], globs: [] }),
  minCopies: z.int().min(1).max(64).default(2),
  maxCopies: z.int().min(1).max(1024).default(3),
  /** Roles that receive this data; empty means every role except coordinators. */
  roles: z.array(z.enum(ROLES)).default([]),
  /** Tags a receiver must carry (any of them); empty means no tag needed. */
  tags: z.array(z.string()).default([]),
  /** Coordinators are excluded as receivers unless this is true (or `roles` names them). */
  allowCoordinators: z.boolean().default(false),
  priority: z.enum(priorityNames).default('normal'),
  /** Node names placed first, before the rendezvous ranking. */
  priorityHosts: z.array(z.string()).default([]),
  /** Node names that never receive this data. */
  excludeHosts: z.array(z.string()).default([]),
  /** Globs of files never replicated (temporary and partial files). */
  exclude: z.array(z.string()).default([]),
  strategy: z.enum(POLICY_STRATEGIES).default('push_from_generator'),
  /** Backup sinks (see the `sinks` block): backup, backupCopies, backupMinAgeSeconds, backupMaxSize. */
  ...policyBackupShape,
})
export type PolicyConfig = z.output<typeof policySchema>

const sqlName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'table and column names: letters, digits and underscore')
/** keep-first | newest:<column> | reject */
const conflictRule = z.string().regex(/^(keep-first|reject|newest:[A-Za-z_][A-Za-z0-9_]*)$/, "expected keep-first, reject or newest:<column>")

const mergeSchema = z.strictObject({
  /** build: sources merged into one target per placeholder values; converge: each local copy takes in its peers' versions. */
  mode: z.enum(['build', 'converge']).default('build'),
  /** Path patterns (relative to the data dir) of the source databases: `*`, `**`, `?` and `{name}` placeholders. */
  sources: z.array(z.string().min(1)).min(1),
  kind: z.literal('sqlite').default('sqlite'),
  /** build: the target path, with the placeholders of the sources, e.g. games/canonical_{board}_{players}p.db. */
  target: z.string().min(1).optional(),
  /** Tables merged, with the columns that identify a row (rows are never duplicated). */
  tables: z.record(sqlName, z.strictObject({ key: z.array(sqlName).min(1), conflict: conflictRule.optional() })).refine((t) => Object.keys(t).length > 0, 'name at least one table'),
  /** What a row whose key is already in the target with other values does (tables may override). */
  conflict: conflictRule.default('keep-first'),
  /** Nodes that build the target (build mode): any of these roles (empty: any) and any of these tags (empty: no tag needed). */
  roles: z.array(z.enum(ROLES)).default([]),
  tags: z.array(z.string()).default([]),
  /** The target's own replication policy (placed before all others). */
  policy: policySchema.omit({ match: true }).optional(),
  /** Seconds between merge passes (the loop is also woken by catalog changes). */
  intervalSeconds: z.number().gt(0).default(10),
})
export type MergeConfig = z.output<typeof mergeSchema>

const hostSchema = z.strictObject({
  role: z.enum(ROLES).default('worker'),
  provider: z.string().max(64).default('local'),
  tags: z.array(z.string().max(64)).max(64).default([]),
  ephemeral: z.boolean().default(false),
  /** This host's address ending in /p2p/<peerId>: every other host bootstraps through it. */
  bootstrap: z.string().regex(/\/p2p\/[1-9A-HJ-NP-Za-km-z]+$/, 'a bootstrap address must end in /p2p/<peerId>').optional(),
})
export type HostConfig = z.output<typeof hostSchema>

export const configSchema = z.strictObject({
  /**
   * The cluster host list, the same file on every host: `node.name` picks this
   * host's entry, which supplies role, provider, tags and ephemeral.
   */
  cluster: z
    .strictObject({
      hosts: z.record(z.string().regex(/^[A-Za-z0-9._-]+$/, 'host names: letters, digits, dot, dash and underscore'), hostSchema).default({}),
      /**
       * Protocol IDs every node must speak (see `meshsync --version`), e.g. '/meshsync/blob/2.0.0':
       * a node that does not speak one refuses to start, naming it (exit 78).
       */
      requireProtocols: z.array(z.string().min(1).max(128)).max(32).default([]),
    })
    .prefault({}),
  node: z
    .strictObject({
      /** Human name, unique in the cluster; defaults to the host name. */
      name: z.string().min(1).max(64).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash and underscore only').optional(),
      /** The following four default to this host's entry in cluster.hosts, else worker/local/[]/false. */
      role: z.enum(ROLES).optional(),
      provider: z.string().max(64).optional(),
      tags: z.array(z.string().max(64)).max(64).optional(),
      /** A spot or preemptible instance that may vanish without warning. */
      ephemeral: z.boolean().optional(),
    })
    .prefault({}),
  /** Where synced files live; meshsync's own state is in DATA_DIR/.meshsync. */
  dataDir: z.string().min(1).default('./meshsync-data'),
  listen: z.array(multiaddr).default(['/ip4/0.0.0.0/tcp/0']),
  /** Addresses to advertise instead of the listen addresses (e.g. a public IP). */
  announce: z.array(multiaddr).default([]),
  /** Multiaddrs ending in /p2p/<peerId> of nodes to join through. */
  bootstrap: z.array(z.string().regex(/\/p2p\/[1-9A-HJ-NP-Za-km-z]+$/, 'a bootstrap address must end in /p2p/<peerId>')).default([]),
  /** Path of a pre-shared swarm key file; nodes without the same key cannot connect. */
  swarmKey: z.string().optional(),
  /** When not empty, only these peer IDs may connect (connection gater). */
  allowPeers: z.array(peerIdString).default([]),
  api: z
    .strictObject({
      listen: hostPort.default('127.0.0.1:8420'),
      /** Host header values answered besides the listen address and loopback names (DNS rebinding guard); '*' turns the check off. */
      allowedHosts: z.array(z.string().min(1)).default([]),
      /** Listening beyond loopback needs TLS: a certificate and key (PEM files)... */
      tls: z
        .strictObject({
          cert: z.string().optional(),
          key: z.string().optional(),
          /** ...or a self-signed certificate made at first start in DATA_DIR/.meshsync (its fingerprint is logged). */
          selfSigned: z.boolean().default(false),
        })
        .prefault({}),
      /** Serve plain HTTP beyond loopback anyway (the key then crosses the network in the clear). */
      insecure: z.boolean().default(false),
      /** Failed dashboard logins per address and minute before the node answers 429. */
      maxFailedLogins: z.int().min(1).max(1000).default(5),
    })
    .prefault({}),
  alerts: z
    .strictObject({
      /** /health/cluster and `meshsync doctor` fail when the oldest unsynced file has waited longer than this. */
      maxSyncLagSeconds: seconds.default(600),
      /** ...or when a file has been under its minimum copies for longer than this. */
      underMinGraceSeconds: seconds.default(300),
      /** ...or when a loop's last successful tick is older than this many of its intervals (and at least loopStallMinSeconds). */
      loopStallIntervals: z.number().gt(1).default(10),
      loopStallMinSeconds: seconds.default(60),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      /** auto: human lines on a terminal, JSON lines when piped or under systemd (JOURNAL_STREAM); or always json / pretty. */
      format: z.enum(['auto', 'json', 'pretty']).default('auto'),
    })
    .prefault({}),
  mesh: z
    .strictObject({
      /** Protocol prefix for the private DHT, so it never joins the public IPFS DHT. */
      protocolPrefix: z.string().regex(/^\/[a-z0-9-]+$/).default('/meshsync'),
      /** Keep private and loopback addresses in the DHT (LAN and local clusters). */
      lan: z.boolean().default(true),
      /** Connections the node keeps open to discovered peers. */
      targetPeers: z.int().min(1).max(1000).default(32),
      /**
       * Many nodes on one host (tests, the simulation): lift libp2p's limit of 5
       * inbound connections per second per address and gossipsub's IP colocation
       * penalty. Never on a real cluster.
       */
      localCluster: z.boolean().default(false),
    })
    .prefault({}),
  gossip: z
    .strictObject({
      healthIntervalSeconds: z.number().gt(0).default(2),
      /** A peer whose health has not arrived for this long is suspect. */
      suspectAfterSeconds: z.number().gt(0).default(6),
      /** ...and down after this long. */
      downAfterSeconds: z.number().gt(0).default(15),
      /** Most entries in one manifest delta message; larger changes are split. */
      maxDeltaEntries: z.int().min(1).max(2000).default(256),
    })
    .prefault({}),
  catalog: z
    .strictObject({
      scanIntervalSeconds: z.number().gt(0).default(10),
      /** The periodic scrub re-reads every cataloged file at most this fast (bytes/s), looking for silent corruption; 0 = off. */
      scrubRate: bytes('a rate').default(20_000_000),
      /** Scan interval on ephemeral nodes (their fresh data must leave quickly). */
      ephemeralScanIntervalSeconds: z.number().gt(0).default(3),
      /** A file is announced once its size and mtime have not changed for this long. */
      stableSeconds: seconds.default(5),
      /** A live SQLite database still being written is snapshotted and announced after this long anyway. */
      sqliteMaxUnstableSeconds: seconds.default(300),
      /** Run kind validation on local files before announcing them; invalid ones go to quarantine. */
      validateLocal: z.boolean().default(true),
      /** Globs (relative paths) never cataloged. */
      exclude: z.array(z.string()).default(['**/*.tmp', '**/*.partial', '**/*.part', '**/*-journal', '**/*-wal', '**/*-shm', '**/.*']),
    })
    .prefault({}),
  bandwidth: z
    .strictObject({
      /** Upload cap for the whole node, bytes per second; 0 = none (or the provider's figure). */
      upload: bytes('a rate').default(0),
      download: bytes('a rate').default(0),
      /** Cap per remote peer, each direction; 0 = none. */
      perPeer: bytes('a rate').default(0),
      /** Per-provider caps (as in the cluster host list): the node's own default, and the cap towards peers there. */
      providers: z.record(z.string(), bytes('a rate')).default({}),
    })
    .prefault({}),
  transfer: z
    .strictObject({
      maxConcurrent: z.int().min(1).max(64).default(4),
      /** Chunks requested ahead from one source. */
      pipelinePerSource: z.int().min(1).max(64).default(8),
      /** Sources used at once for one file. */
      maxSources: z.int().min(1).max(32).default(4),
      /** No progress for this long: a stalled event and the source is dropped. */
      stallSeconds: z.number().gt(0).default(30),
      /** Upper bound for one whole transfer. */
      timeoutSeconds: z.number().gt(0).default(3600),
      /** Attempts before a file is given up (until it is asked for again). */
      retries: z.int().min(0).max(100).default(8),
      backoffBaseSeconds: z.number().gt(0).default(2),
      backoffMaxSeconds: z.number().gt(0).default(300),
      /** Re-check each chunk against its hash before sending it (catches rot at the source). */
      verifyOnSend: z.boolean().default(true),
      /** Transfers the node serves at once. */
      maxServing: z.int().min(1).max(256).default(16),
      circuitBreaker: z
        .strictObject({
          preset: z.enum(['default', 'aggressive', 'patient']).default('default'),
          failures: z.int().min(1).max(100).optional(),
          openSeconds: z.number().gt(0).optional(),
          /** The only usable holder of a file is still probed through its open breaker, at most once per this long. */
          soleProbeSeconds: z.number().gt(0).default(5),
        })
        .prefault({}),
      /** Abandoned staging files older than this are removed. */
      stagingMaxAgeSeconds: z.number().gt(0).default(24 * 3600),
      /** Bulk TLS 1.3 data lane for chunk bytes (protocols/blob/SPEC.md): auto = when offered, else the libp2p stream. */
      lane: z.enum(['auto', 'off', 'only']).default('auto'),
      /** TCP port of the lane listener; 0 = any free port (announced in health as lane_port). */
      lanePort: z.int().min(0).max(65535).default(0),
    })
    .prefault({}),
  disk: z
    .strictObject({
      /** Treat the node as having this much disk (per-node quota); default: the filesystem's figures. */
      quota: bytes('a size').optional(),
      /** Used fraction at which the node starts moving its data out to its replicas. */
      pushAt: fraction.default(0.5),
      /** ...urgently, with raised priority. */
      urgentAt: fraction.default(0.7),
      /** ...at which it may delete local files that have enough verified copies elsewhere. */
      cleanupAt: fraction.default(0.75),
      /** Free space always kept: nothing is pulled that would go below it. */
      minFree: bytes('a size').default(1024 ** 3),
      /** Verified, attested copies elsewhere required before a local file may be deleted. */
      requiredCopiesForDelete: z.int().min(1).max(64).default(2),
      /** How long a holder has to answer an attestation request. */
      attestTimeoutSeconds: z.number().gt(0).default(30),
      /** One of the copies a delete needs must be a sink copy verified within sinks.verifyMaxAgeSeconds. */
      requireBackupForDelete: z.boolean().default(false),
    })
    .prefault({}),
  replication: z
    .strictObject({
      strategy: z.enum(NODE_STRATEGIES).default('auto'),
      /** How long a down node's files still count as copies. */
      downGraceSeconds: seconds.default(300),
      /** The same for ephemeral (spot) nodes. */
      ephemeralDownGraceSeconds: seconds.default(60),
      /** Planner tick. */
      intervalSeconds: z.number().gt(0).default(5),
      /** Repairs (pulls of under-replicated files) started per minute at most, so a flapping node causes no storm. */
      repairsPerMinute: z.int().min(1).max(10_000).default(30),
      /** Seconds a SIGTERM'd node keeps serving its rarest files before it exits. */
      evacuationDeadlineSeconds: z.number().gt(0).default(110),
      /** Load average per core above which the node reports backpressure. */
      backpressureLoad: z.number().gt(0).default(4),
    })
    .prefault({}),
  /** Backup sinks (S3-compatible storage, mounted paths) and when their copies count: src/sinks/config.ts. */
  sinks: sinksSchema.prefault({}),
  policies: z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/, 'policy names are lower-case words'), policySchema).optional(),
  /**
   * SQLite consolidation (src/merge/): `merges.<name>` merges the tables of
   * every source database matching `sources` into `target` (build), or keeps
   * every holder's copy of a small shared database converged (converge).
   */
  merges: z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/, 'merge names are lower-case words'), mergeSchema).default({}),
  bittorrent: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** TCP port for BitTorrent; 0 picks one. */
      port: z.int().min(0).max(65535).default(0),
      /** Files at or above this size get a torrent and may move over BitTorrent when libp2p fails. */
      preferredSize: bytes('a size').default(50_000_000),
      /** At or above this size... */
      requiredSize: bytes('a size').default(500_000_000),
      /** ...BitTorrent is the first choice when this is true. */
      preferForRequired: z.boolean().default(false),
      /** Trackers of your own to announce to (never public ones by default). */
      trackers: z.array(z.string().regex(/^(https?|udp|wss?):\/\//, 'expected a tracker URL')).default([]),
    })
    .prefault({}),
  /** Test and simulation hooks. Never set these on a real cluster. */
  debug: z
    .strictObject({
      /** Fraction of served chunks with one byte flipped (a lying source). */
      corruptServeRate: z.number().min(0).max(1).default(0),
      /** false: this node never fetches over the libp2p blob protocol (tests of the BitTorrent fallback). */
      libp2pFetch: z.boolean().default(true),
      /**
       * Seed torrents built from this node's files with one byte flipped per piece, under
       * the files' true SHA-256 (a lying BitTorrent seeder: only the SHA-256 at landing catches it).
       */
      corruptTorrents: z.boolean().default(false),
      /** The first N fsyncs of staging files fail with EIO (a failing disk). */
      failStagingFsyncs: z.int().min(0).default(0),
      /** The first N private-network (swarm key) connections fail their cipher once 1 MiB has passed either way (a crashing pnet cipher). */
      failPnetConnections: z.int().min(0).default(0),
    })
    .prefault({}),
})

export type ConfigInput = z.input<typeof configSchema>
export type Config = z.output<typeof configSchema>
