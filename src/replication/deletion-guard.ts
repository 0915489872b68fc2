import type { Clock } from '../util/clock.js'

/** A signed statement from `peer` that it re-hashed its fsynced copy of `sha256` at `timeMs`. */
export interface Attestation {
  peer: string
  sha256: string
  size: number
  timeMs: number
}

/** Where a node keeps the leases it granted, so a restart under the same identity still honours them. */
export interface LeaseStore {
  load(): Iterable<[sha256: string, untilMs: number]>
  save(sha256: string, untilMs: number): void
}

export interface DeletionRules {
  /** Distinct other live nodes that must attest. */
  required: number
  /** An attestation older than this no longer counts. */
  maxAgeMs: number
  /** After attesting, a node keeps its copy at least this long. */
  leaseMs: number
}

/**
 * The rules that make deletion safe, per node. They are the only path to
 * deleting a file, and the property test drives the same class.
 *
 * 1. Intent: before asking others to attest, a node marks the file as being
 *    deleted here; while marked, it attests it to nobody.
 * 2. Lease: a node that attests a file promises to keep it for `leaseMs`;
 *    while any lease it granted runs, it may not delete that file.
 * 3. Quorum: a node deletes its copy only with fresh attestations from at
 *    least `required` distinct other nodes that are live now.
 *
 * So two nodes cleaning up at once cannot each count the other's copy and
 * both delete: whichever asked second finds the first refusing (intent) or
 * the first is bound by the lease it granted. A timeout is not an attestation,
 * and a file's absence never triggers a delete anywhere.
 */
export class DeletionGuard {
  readonly #self: string
  readonly #clock: Clock
  readonly rules: DeletionRules
  readonly #intent = new Set<string>()
  /** sha256 -> lease expiry */
  readonly #leases = new Map<string, number>()

  readonly #store: LeaseStore | undefined

  constructor(self: string, rules: DeletionRules, clock: Clock, store?: LeaseStore) {
    this.#self = self
    this.rules = rules
    this.#clock = clock
    this.#store = store
    const now = clock.now()
    for (const [sha, until] of store?.load() ?? []) if (until > now) this.#leases.set(sha, until)
  }

  /** Marks intent to delete; false if a granted lease forbids it (or another delete of it runs). */
  begin(sha256: string): boolean {
    if (this.leased(sha256) || this.#intent.has(sha256)) return false
    this.#intent.add(sha256)
    return true
  }

  end(sha256: string): void {
    this.#intent.delete(sha256)
  }

  deleting(sha256: string): boolean {
    return this.#intent.has(sha256)
  }

  leased(sha256: string): boolean {
    const until = this.#leases.get(sha256)
    if (until == null) return false
    if (until <= this.#clock.now()) {
      this.#leases.delete(sha256)
      return false
    }
    return true
  }

  /**
   * Asked to attest: allowed if we hold a verified copy and are not deleting
   * it. Allowing grants the lease (the caller then re-hashes and signs).
   */
  attest(sha256: string, holdsVerifiedCopy: boolean): boolean {
    if (!holdsVerifiedCopy || this.#intent.has(sha256)) return false
    const until = Math.max(this.#clock.now() + this.rules.leaseMs, this.#leases.get(sha256) ?? 0)
    this.#leases.set(sha256, until)
    this.#store?.save(sha256, until)
    return true
  }

  /** The quorum check, at the moment of deleting (after begin()). */
  mayDelete(sha256: string, attestations: Attestation[], isLive: (peer: string) => boolean): boolean {
    if (!this.#intent.has(sha256) || this.leased(sha256)) return false
    const now = this.#clock.now()
    const distinct = new Set<string>()
    for (const a of attestations) {
      if (a.sha256 !== sha256 || a.peer === this.#self) continue
      if (now - a.timeMs > this.rules.maxAgeMs || a.timeMs > now + 60_000) continue
      if (!isLive(a.peer)) continue
      distinct.add(a.peer)
    }
    return distinct.size >= this.rules.required
  }
}
