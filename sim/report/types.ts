/**
 * The simulation report: what `sim` writes to DIR/report.json and renders to
 * DIR/report.html (see ./html.ts). Plain JSON data: no Dates, no Maps, no
 * bigints. All times are milliseconds since the start of the run unless named
 * otherwise.
 */

/** The outcome of one invariant check at the end of a run. */
export interface InvariantResult {
  /** true when the invariant held. */
  ok: boolean
  /** Evidence for the verdict (counts, offending files or peers...); any JSON value, rendered pretty-printed. */
  detail: unknown
}

/** One node of the simulated cluster. */
export interface SimReportNode {
  /** Node name as used in events, series and faults. */
  name: string
  peerId: string
  role: string
  provider: string
  ephemeral: boolean
  /** What became of the node by the end of the run (absent: alive). */
  fate?: 'alive' | 'killed' | 'gone' | 'replaced'
}

/** One file the scenario wrote into the cluster. */
export interface SimReportFile {
  /** Hex sha256 of the content. */
  sha256: string
  path: string
  /** Bytes. */
  size: number
  /** Validator kind (sqlite, safetensors, npz, blob...). */
  kind: string
  /** Name of the node that wrote it. */
  origin: string
  minCopies: number
  createdAtMs: number
  /** When the write reached minCopies acknowledged copies (absent: never). */
  ackedAtMs?: number
  /** Verified copies at the end of the run. */
  finalCopies: number
}

/** A series sample of per-file verified copies. */
export interface CopiesSample {
  /** ms since start. */
  t: number
  /** Key: sha256 (full, or its first 12 hex digits); value: verified copies. */
  files: Record<string, number>
}

/** A series sample of a per-node figure. */
export interface NodeSample {
  /** ms since start. */
  t: number
  /** Key: node name. */
  nodes: Record<string, number>
}

/** Something the harness did to the cluster. */
export interface SimFault {
  /** ms since start. */
  t: number
  /** kill, restart, partition, heal, corrupt, evacuate, fill-disk, cap-link, promote, new-identity, lose-all, restore... */
  type: string
  node?: string
  detail?: string
}

/** Something a node reported. */
export interface SimEvent {
  /** ms since start. */
  t: number
  node: string
  type: string
  path?: string
  peer?: string
  detail?: string
}

/** The whole report (DIR/report.json). */
export interface SimReport {
  version: 1
  scenario: { name: string; description?: string; file?: string }
  seed: number
  mode: 'inprocess' | 'processes' | 'netns'
  /** ISO 8601 wall-clock start. */
  startedAt: string
  durationMs: number
  /** When faults stopped (ms since start). */
  settledAtMs?: number
  nodes: SimReportNode[]
  /** Keyed by invariant name, e.g. noDataLost, nothingCorruptVisible, convergence, noStorm. */
  invariants: Record<string, InvariantResult>
  /**
   * Free-form figures, e.g. bytesMoved, bytesNeeded, stormFactor, gossipP50Ms,
   * gossipP99Ms, transferP50Ms, transferP99Ms, failureDetectionMs, repairMs.
   * Keys containing "bytes" are shown as sizes, keys ending in "Ms" as durations.
   */
  figures: Record<string, number | string | null>
  files: SimReportFile[]
  series: {
    /** Sampled every second or so; t = ms since start. */
    copies: CopiesSample[]
    /** Cumulative bytes received per node name. */
    bytesMoved: NodeSample[]
    /** Used disk fraction 0..1 per node name. */
    disk: NodeSample[]
  }
  /** Raw latency samples in ms. */
  latency: { gossipMs: number[]; transferMs: number[] }
  faults: SimFault[]
  /** May be thousands; the page aggregates and caps them. */
  events: SimEvent[]
}
