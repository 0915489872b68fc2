import { describe, expect, it } from 'vitest'
import { CircuitBreakers } from '../../src/transfer/circuit-breaker.js'
import { RateLimiter } from '../../src/transfer/rate-limiter.js'
import { ManualClock } from '../../src/util/clock.js'

describe('circuit breakers', () => {
  it('opens after N failures, half-opens after the timeout with one trial, closes on success', async () => {
    const clock = new ManualClock()
    const b = new CircuitBreakers({ failures: 3, openMs: 60_000 }, clock)
    const changes: string[] = []
    b.onChange = (_p, s) => changes.push(s)
    for (let i = 0; i < 2; i++) b.failure('p')
    expect(b.allow('p')).toBe(true)
    b.failure('p')
    expect(b.state('p')).toBe('open')
    expect(b.allow('p')).toBe(false)
    await clock.advance(59_999)
    expect(b.allow('p')).toBe(false)
    await clock.advance(1)
    expect(b.state('p')).toBe('half-open')
    expect(b.allow('p')).toBe(true)
    expect(b.allow('p')).toBe(false) // one trial at a time
    b.success('p')
    expect(b.state('p')).toBe('closed')
    expect(changes).toEqual(['open', 'half-open', 'closed'])
  })

  it('goes straight back to open when the trial fails', async () => {
    const clock = new ManualClock()
    const b = new CircuitBreakers({ failures: 2, openMs: 30_000 }, clock)
    b.failure('p')
    b.failure('p')
    await clock.advance(30_000)
    expect(b.allow('p')).toBe(true)
    b.failure('p')
    expect(b.state('p')).toBe('open')
    expect(b.allow('p')).toBe(false)
    // success elsewhere does not touch p
    b.success('q')
    expect(b.state('p')).toBe('open')
  })
})

describe('circuit breaker trip', () => {
  it('opens at once whatever the count, half-opens after the timeout, and a success closes it', async () => {
    const clock = new ManualClock()
    const b = new CircuitBreakers({ failures: 3, openMs: 10_000 }, clock)
    b.trip('liar')
    expect(b.state('liar')).toBe('open')
    expect(b.allow('liar')).toBe(false)
    expect(b.state('other')).toBe('closed')
    await clock.advance(10_000)
    expect(b.state('liar')).toBe('half-open')
    b.trip('liar') // caught again on its trial
    expect(b.state('liar')).toBe('open')
    await clock.advance(10_000)
    expect(b.allow('liar')).toBe(true)
    b.success('liar')
    expect(b.state('liar')).toBe('closed')
  })
})

describe('circuit breaker probes of a sole holder', () => {
  it('lets one probe through an open breaker at most once per soleProbeMs, leaves it open on failure, closes on success', async () => {
    const clock = new ManualClock()
    const b = new CircuitBreakers({ failures: 3, openMs: 600_000, soleProbeMs: 5000 }, clock)
    expect(b.probe('p')).toBe(true) // closed: no limit
    b.trip('p')
    expect(b.allow('p')).toBe(false)
    expect(b.probe('p')).toBe(true)
    expect(b.probe('p')).toBe(false) // one at a time
    b.failure('p')
    expect(b.state('p')).toBe('open')
    expect(b.probe('p')).toBe(false) // and at most one per 5 s
    await clock.advance(4999)
    expect(b.probe('p')).toBe(false)
    await clock.advance(1)
    expect(b.probe('p')).toBe(true)
    // the other downloads (which have a choice) still skip it
    expect(b.allow('p')).toBe(false)
    b.success('p')
    expect(b.state('p')).toBe('closed')
    expect(b.allow('p')).toBe(true)
  })

  it('forgets a trial nobody reported on, so a called-off download cannot shut a peer out', async () => {
    const clock = new ManualClock()
    const b = new CircuitBreakers({ failures: 1, openMs: 1000, soleProbeMs: 1000 }, clock)
    b.failure('p')
    await clock.advance(1000)
    expect(b.allow('p')).toBe(true) // the half-open trial, never reported
    await clock.advance(1000)
    expect(b.allow('p')).toBe(false)
    expect(b.probe('p')).toBe(false)
    await clock.advance(30_000)
    expect(b.allow('p')).toBe(true)
  })
})

describe('weighted rate limiter', () => {
  it('holds the rate and shares it by priority weight', async () => {
    const clock = new ManualClock()
    const rate = 10 * 1024 * 1024
    const lim = new RateLimiter(rate, clock)
    const got: Record<string, number> = { critical: 0, normal: 0, background: 0 }
    const chunk = 64 * 1024
    const flows: [string, number][] = [['critical', 2.0], ['normal', 1.0], ['background', 0.25]]
    let stop = false
    const pumps = flows.map(async ([name, w]) => {
      while (!stop) {
        await lim.take(chunk, name, w)
        got[name] = (got[name] ?? 0) + chunk
      }
    })
    for (let t = 0; t < 100; t++) await clock.advance(100) // 10 s
    stop = true
    await clock.advance(10_000)
    await Promise.all(pumps)
    const total = got.critical! + got.normal! + got.background!
    // rate held within a few percent over 10 s (plus the drain after stop)
    expect(total).toBeLessThan(rate * 11 * 1.05)
    expect(total).toBeGreaterThan(rate * 10 * 0.95)
    expect(got.critical! / got.normal!).toBeGreaterThan(1.8)
    expect(got.critical! / got.normal!).toBeLessThan(2.2)
    expect(got.normal! / got.background!).toBeGreaterThan(3.6)
    expect(got.normal! / got.background!).toBeLessThan(4.4)
  })

  it('is a no-op at rate 0 and honours abort', async () => {
    const clock = new ManualClock()
    await new RateLimiter(0, clock).take(1e9, 'f', 1)
    const lim = new RateLimiter(1000, clock)
    await lim.take(100_000, 'f', 1) // into debt
    const ac = new AbortController()
    const p = lim.take(10, 'f', 1, ac.signal)
    ac.abort(new Error('stop'))
    await expect(p).rejects.toThrow('stop')
  })

  it('takes back what a flow refunds: the next waiter is served as soon as the debt is paid', async () => {
    const clock = new ManualClock()
    const lim = new RateLimiter(1000, clock)
    await lim.take(64 * 1024 + 2000, 'a', 1) // the burst, then 2 s of debt
    let served = false
    void lim.take(10, 'b', 1).then(() => {
      served = true
    })
    await clock.advance(500)
    expect(served).toBe(false)
    lim.refund(1600) // 'a' did not use 1600 of what it took
    await clock.advance(0)
    expect(served).toBe(true)
    // a refund never makes the bucket larger than its burst
    const fresh = new RateLimiter(1000, clock)
    fresh.refund(1e9)
    await fresh.take(64 * 1024, 'c', 1)
    let next = false
    void fresh.take(10, 'c', 1).then(() => {
      next = true
    })
    await clock.advance(0)
    expect(next).toBe(false)
  })
})
