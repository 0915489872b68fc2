import type { DataKind } from '../data/generate.js'

/** A file the harness wrote into a node's data dir: the ground truth the invariants check against. */
export interface LedgerFile {
  sha256: string
  path: string
  size: number
  kind: DataKind
  /** Node name. */
  origin: string
  minCopies: number
  policy: string
  /** ms since start. */
  createdAtMs: number
  /** First sample at which minCopies live nodes held it (ms since start). */
  ackedAtMs?: number
  /** Fewest live copies seen at a sample after it was acknowledged. */
  lowestAfterAck?: number
  /** When the origin first listed it in its catalog (gossip latency starts here). */
  announcedAtMs?: number
  promoted?: boolean
}

/** Every file written, by path and by content. */
export class Ledger {
  readonly byPath = new Map<string, LedgerFile>()
  readonly bySha = new Map<string, LedgerFile>()

  add(f: LedgerFile): void {
    this.byPath.set(f.path, f)
    if (!this.bySha.has(f.sha256)) this.bySha.set(f.sha256, f)
  }

  all(): LedgerFile[] {
    return [...this.bySha.values()]
  }

  /**
   * Whether `sha256` is what may sit at `path`: the content written there, or
   * a replica landed under an alternative name carrying its hash
   * (`name.<sha12>.ext`, when the path was taken), of content we wrote.
   */
  expected(path: string, sha256: string): boolean {
    const f = this.byPath.get(path)
    if (f != null) return f.sha256 === sha256
    const m = /\.([0-9a-f]{12})(\.[^./]+)?$/.exec(path)
    return m != null && sha256.startsWith(m[1]!) && this.bySha.has(sha256)
  }
}
