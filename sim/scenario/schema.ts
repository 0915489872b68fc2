import { z } from 'zod'
import { parseBytes } from '../../src/util/units.js'

/**
 * A scenario file (YAML, sim/scenarios/NAME.yaml): the cluster's shape, the
 * data each node produces, the faults, and the bounds the invariants use.
 * Times are seconds from the start of the run. docs/sim.md documents every
 * key. Objects are strict: a misspelt key is an error naming it.
 */

const bytes = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = parseBytes(v)
  if (n == null) {
    ctx.addIssue({ code: 'custom', message: `expected a size such as 1048576, "256KiB" or "10MB/s", got ${JSON.stringify(v)}` })
    return z.NEVER
  }
  return n
})
/** A size, or [min, max] drawn per file. */
const sizeRange = z.union([bytes.transform((b) => [b, b] as [number, number]), z.tuple([bytes, bytes])])
const secs = z.number().nonnegative()
/** Seconds, or [min, max] drawn each time. */
const secsRange = z.union([secs.transform((s) => [s, s] as [number, number]), z.tuple([secs, secs])])
const settings = z.record(z.string(), z.unknown()).default({})

/**
 * A node selector: a node name (`spot-3`), `group:NAME` (one node of that
 * group, drawn with the seed), `random` (any node but the first), or
 * `all:NAME` where a fault takes several nodes.
 */
const selector = z.string().min(1)

const group = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/, 'group names: lower-case letters, digits and dashes'),
  /** Exactly this many nodes... */
  count: z.int().min(0).optional(),
  /** ...or a share of the nodes left after the counted groups (weights). */
  share: z.number().positive().optional(),
  role: z.enum(['coordinator', 'training', 'selfplay', 'storage', 'worker']).default('worker'),
  provider: z.string().default('local'),
  ephemeral: z.boolean().default(false),
  tags: z.array(z.string()).default([]),
  /** Node config for this group, dotted keys (`bandwidth.upload: 10MB/s`). */
  config: settings,
  /** Added latency on connections to these nodes, ms each way (userspace TCP proxy). */
  latencyMs: z.number().nonnegative().optional(),
})

const dataStream = z.strictObject({
  kind: z.enum(['sqlite', 'npz', 'model', 'blob']),
  /** Which nodes produce it: a group name, `all`, or a node name. */
  on: z.string().default('all'),
  /** Seconds between two files on one node (drawn in [min, max]). */
  every: secsRange,
  size: sizeRange,
  from: secs.default(0),
  /** Default: the run's duration minus a quarter, so the last files can still spread. */
  until: secs.optional(),
  /** At most this many files per node from this stream. */
  max: z.int().positive().optional(),
})

const at = { at: secs }
const fault = z.discriminatedUnion('type', [
  /** kill -9 (processes, netns) or an abrupt stop (inprocess); back after restartAfter seconds, or never. */
  z.strictObject({ type: z.literal('kill'), ...at, node: selector, restartAfter: secsRange.optional() }),
  /** Spot churn: every `every` seconds one node of the group dies; it returns after `down`, or never (with probability neverReturn). */
  z.strictObject({
    type: z.literal('churn'),
    group: z.string(),
    from: secs,
    until: secs,
    every: secsRange,
    down: secsRange,
    neverReturn: z.number().min(0).max(1).default(0),
    /** Spot evacuation instead of kill -9 for this fraction (SIGTERM with a deadline). */
    evacuate: z.number().min(0).max(1).default(0),
    deadline: secs.default(20),
  }),
  /** Spot evacuation: SIGTERM, the node evacuates within `deadline` seconds and exits; back after restartAfter, or never. */
  z.strictObject({ type: z.literal('evacuate'), ...at, node: selector, deadline: secs.default(20), restartAfter: secsRange.optional() }),
  /** Cuts the cluster in groups (gater block + hang up); heals after `heal` seconds, or never. */
  z.strictObject({
    type: z.literal('partition'),
    ...at,
    /** `halves`, `isolate:SELECTOR`, or lists of node names / group:NAME (nodes not listed form the last side). */
    split: z.union([z.string(), z.array(z.array(z.string()))]),
    heal: secs.optional(),
  }),
  /** From `at` the node serves corrupted bytes (debug.corruptServeRate): a restart with that setting, or from the start when at is 0. */
  z.strictObject({ type: z.literal('corrupt'), ...at, node: selector, rate: z.number().gt(0).max(1) }),
  /** The node's disk is `quota` (from the start) and at `at` it receives `fill` bytes of new local data. */
  z.strictObject({ type: z.literal('fill-disk'), ...at, node: selector, quota: bytes, fill: bytes, fileSize: bytes.default(4 * 1024 * 1024) }),
  /** Caps the node's link: bandwidth.upload/download (a restart) in inprocess and processes, tc in netns. */
  z.strictObject({ type: z.literal('cap-link'), ...at, node: selector, upload: bytes, download: bytes.optional() }),
  /** POST /promote for the newest `count` model files, `spacing` seconds apart. */
  z.strictObject({ type: z.literal('promote'), ...at, count: z.int().positive().default(3), spacing: secs.default(0.5) }),
  /** The node stops, loses .meshsync/identity.key and rejoins under a new peer ID with its data. */
  z.strictObject({ type: z.literal('new-identity'), ...at, node: selector, downFor: secs.default(2) }),
  /**
   * The whole cluster is lost: every node is killed and its data dir deleted
   * (identity, state db, files). After restartAfter seconds new nodes take
   * their names: the `restoreOn` ones first run `meshsync restore` from the
   * scenario's sinks, then every node starts. With sinks, the harness first
   * waits (at most backupWait seconds) until every file written so far has a
   * verified copy in a sink.
   */
  z.strictObject({ type: z.literal('lose-all'), ...at, restartAfter: secs.default(2), restoreOn: z.array(selector).min(1), backupWait: secs.default(60) }),
])

const sinkName = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'sink names are lower-case words of up to 32 characters')
/** A backup sink of the simulated cluster; every node gets it in its config (sinks.NAME). */
const simSink = z.discriminatedUnion('type', [
  /** An S3-compatible server (s3rver) the harness starts on 127.0.0.1, a port the OS picks; one bucket, stored in the run dir. */
  z.strictObject({ type: z.literal('s3'), prefix: z.string().regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/).default('sim') }),
  /** A folder in the run dir, marked as a sink (what `meshsync sink init` does). */
  z.strictObject({ type: z.literal('path') }),
])
/** Backup keys added to a policy (built in, or from the scenario's config): which sinks get its files. */
const backupPolicy = z.strictObject({
  backup: z.array(sinkName).min(1),
  backupCopies: z.int().min(1).optional(),
  backupMinAgeSeconds: z.number().nonnegative().optional(),
  backupMaxSize: bytes.optional(),
})
export type FaultSpec = z.output<typeof fault>

export const scenarioSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  nodes: z.int().min(2).max(500).default(6),
  /** Seconds of activity: data and faults. */
  duration: z.number().positive().default(60),
  /** At most this long after the last fault for the cluster to converge and repair. */
  settle: z.number().positive().default(60),
  mode: z.enum(['inprocess', 'processes', 'netns']).default('inprocess'),
  seed: z.int().default(1),
  /** Sampling period of the observer, seconds. */
  sampleEvery: z.number().positive().default(1),
  /** Node config for every node (dotted keys); groups and faults add to it. */
  config: settings,
  groups: z.array(group).min(1).default([{ name: 'node', share: 1, role: 'worker', provider: 'local', ephemeral: false, tags: [], config: {} }]),
  data: z.array(dataStream).default([]),
  faults: z.array(fault).default([]),
  /** Backup sinks (docs/sim.md, "Sinks"): name -> { type: s3 } or { type: path }. */
  sinks: z.record(sinkName, simSink).default({}),
  /** Policy name -> backup keys merged into it (`games: { backup: [cloud] }`). */
  policies: z.record(z.string(), backupPolicy).default({}),
  invariants: z
    .strictObject({
      /** convergence: all live nodes agree on every live node's manifest within this many seconds after the last fault. */
      convergeWithin: secs.default(45),
      /** noStorm: bytes moved at most this many times the bytes that had to move. */
      stormFactor: z.number().gt(1).default(3),
      /** Invariants not to check (reported as skipped). */
      skip: z.array(z.enum(['noDataLost', 'nothingCorruptVisible', 'convergence', 'noStorm', 'mergedExactlyOnce'])).default([]),
    })
    .prefault({}),
})

export type Scenario = z.output<typeof scenarioSchema>
export type GroupSpec = Scenario['groups'][number]
export type DataSpec = Scenario['data'][number]
export type SimSinkSpec = Scenario['sinks'][string]
