/**
 * Randomness as the node uses it: jitter, shuffles, tie-breaks. Everything
 * that draws goes through a Random so tests and the simulation can seed it
 * and replay a run. Not for secrets: tokens and keys use node:crypto.
 */
export interface Random {
  /** A float in [0, 1). */
  next(): number
}

/** The process's own source (Math.random); the default in production. */
export const systemRandom: Random = { next: () => Math.random() }

/** A deterministic source (mulberry32): the same seed gives the same sequence. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0
  return {
    next() {
      a = (a + 0x6d2b79f5) >>> 0
      let t = a
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    },
  }
}

/** An integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random.next() * n)
}

/** Shuffles `items` in place (Fisher-Yates) and returns it. */
export function shuffle<T>(items: T[], random: Random = systemRandom): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1)
    const t = items[i]!
    items[i] = items[j]!
    items[j] = t
  }
  return items
}
