import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { validateFile } from '../../src/validate/index.js'
import type { Depth, Verdict } from '../../src/validate/types.js'
import { tempDir, writeLargeNpz } from './helpers.js'

const SAMPLES = 3200 // 64 KiB each: a 200 MiB features.npy
const RSS_BUDGET = 64 * 1024 * 1024
/**
 * Inflating allocates a fresh 64 KiB output buffer per chunk (node:zlib has no
 * public API to inflate into a reused buffer); they are garbage at once, but V8
 * frees such external memory only every few tens of MiB. Measured peaks: 0-56
 * MiB over a 200 MB member, no higher for a 1 GB one. Stored members reuse one
 * read buffer and stay near +1 MiB.
 */
const RSS_BUDGET_DEFLATE = 96 * 1024 * 1024

let tmp: { dir: string; cleanup: () => Promise<void> }
const files = { stored: '', deflate: '' }
let storedSize = 0
beforeAll(async () => {
  tmp = await tempDir('meshsync-memory-')
  files.stored = join(tmp.dir, 'stored.npz')
  files.deflate = join(tmp.dir, 'deflate.npz')
  storedSize = await writeLargeNpz(files.stored, SAMPLES, 0)
  await writeLargeNpz(files.deflate, SAMPLES, 8)
}, 60_000)
afterAll(async () => {
  for (const f of Object.values(files)) if (f) await rm(f, { force: true })
  await tmp.cleanup()
})

/** Validates while sampling RSS every few milliseconds; returns the verdict and the peak growth over the start. */
async function measure(path: string, depth: Depth): Promise<{ verdict: Verdict; growth: number; seconds: number }> {
  ;(globalThis as { gc?: () => void }).gc?.()
  const start = process.memoryUsage.rss()
  let peak = start
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss())
  }, 2)
  const t0 = performance.now()
  try {
    const verdict = await validateFile(path, 'npz', { depth })
    peak = Math.max(peak, process.memoryUsage.rss())
    return { verdict, growth: peak - start, seconds: (performance.now() - t0) / 1000 }
  } finally {
    clearInterval(timer)
  }
}

describe('memory stays bounded on a ~200 MB NPZ', () => {
  it('the stored file is as large as intended', () => {
    expect(storedSize).toBeGreaterThan(200 * 1024 * 1024)
  })

  for (const [method, depth] of [
    ['stored', 'deep'],
    ['stored', 'quick'],
    ['deflate', 'deep'],
    ['deflate', 'quick'],
  ] as const) {
    const budget = method === 'deflate' && depth === 'deep' ? RSS_BUDGET_DEFLATE : RSS_BUDGET
    it(`${method}, ${depth}: valid, RSS growth under ${budget / 2 ** 20} MiB`, async () => {
      const { verdict, growth, seconds } = await measure(files[method], depth)
      expect(verdict).toMatchObject({ ok: true, facts: { samples: SAMPLES } })
      expect(growth).toBeLessThan(budget)
      // deep reads every byte; this is a loose bound only to catch pathological slowness
      expect(seconds).toBeLessThan(8)
    }, 20_000)
  }

  it('an abort during deep validation stops it with AbortError', async () => {
    const ac = new AbortController()
    const p = validateFile(files.deflate, 'npz', { depth: 'deep', signal: ac.signal })
    setTimeout(() => ac.abort(), 5)
    const t0 = performance.now()
    await expect(p).rejects.toMatchObject({ name: 'AbortError' })
    expect(performance.now() - t0).toBeLessThan(1000)
    await expect(validateFile(files.stored, 'npz', { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' })
  })
})
