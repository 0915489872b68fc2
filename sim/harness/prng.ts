import { createCipheriv, createHash } from 'node:crypto'

/**
 * Seeded randomness for the simulation: the same seed gives the same
 * schedule of faults and the same data bytes. Streams are derived by label
 * (`fork('faults')`, `fork('data/3')`), so adding a fault does not shift the
 * data schedule and vice versa.
 */
export class Prng {
  readonly seed: number
  readonly label: string
  #a: number

  constructor(seed: number, label = 'root') {
    this.seed = seed >>> 0
    this.label = label
    this.#a = deriveSeed(seed, label)
  }

  /** An independent stream for `label` (stable whatever else is drawn). */
  fork(label: string): Prng {
    return new Prng(this.seed, `${this.label}/${label}`)
  }

  /** Uniform in [0, 1) (mulberry32). */
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) >>> 0
    let t = this.#a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** Integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1))
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo)
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from an empty list')
    return xs[Math.floor(this.next() * xs.length)]!
  }

  shuffle<T>(xs: readonly T[]): T[] {
    const out = [...xs]
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1))
      ;[out[i], out[j]] = [out[j]!, out[i]!]
    }
    return out
  }

  /** `k` distinct elements, in random order. */
  sample<T>(xs: readonly T[], k: number): T[] {
    return this.shuffle(xs).slice(0, Math.max(0, Math.min(k, xs.length)))
  }
}

/** A 32-bit seed from a run seed and a label (SHA-256, so labels never collide in practice). */
export function deriveSeed(seed: number, label: string): number {
  return createHash('sha256').update(`${seed >>> 0}:${label}`).digest().readUInt32LE(0)
}

/**
 * A fast deterministic byte stream for bulk file contents: AES-128-CTR over
 * zeros, keyed by seed and label. Call `next(n)` repeatedly for a long file.
 */
export function byteStream(seed: number, label: string): { next(n: number): Buffer } {
  const key = createHash('sha256').update(`bytes:${seed >>> 0}:${label}`).digest()
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32))
  return { next: (n) => cipher.update(Buffer.alloc(n)) }
}
