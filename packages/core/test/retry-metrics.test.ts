import { backoffDelay, ConfigError, DEFAULT_RETRY, LatencyHistogram, RateWindow, resolveRetry } from '@tierbus/core'
import { describe, expect, it } from 'vitest'

describe('retry policy', () => {
  it('doubles the delay per attempt within [half, full] of the exponential value, capped at maxMs', () => {
    const backoff = { baseMs: 100, maxMs: 1000 }
    expect(backoffDelay(1, backoff, () => 0)).toBe(50)
    expect(backoffDelay(1, backoff, () => 1)).toBe(100)
    expect(backoffDelay(3, backoff, () => 0)).toBe(200)
    expect(backoffDelay(3, backoff, () => 1)).toBe(400)
    expect(backoffDelay(10, backoff, () => 1)).toBe(1000)
    expect(backoffDelay(10, backoff, () => 0)).toBe(500)
  })

  it('fills defaults and rejects nonsense at configuration time', () => {
    expect(resolveRetry()).toEqual(DEFAULT_RETRY)
    expect(resolveRetry({ attempts: 3 }).backoff).toEqual(DEFAULT_RETRY.backoff)
    expect(() => resolveRetry({ attempts: 0 })).toThrow(ConfigError)
    expect(() => resolveRetry({ backoff: { baseMs: 500, maxMs: 100 } })).toThrow(/baseMs <= maxMs/)
  })
})

describe('latency histogram', () => {
  it('reports percentiles within 3% of the exact values', () => {
    const h = new LatencyHistogram()
    const values = Array.from({ length: 10_000 }, (_, i) => (i + 1) / 10) // 0.1 .. 1000 ms
    for (const v of values) h.record(v)
    const s = h.summary()
    expect(s.count).toBe(10_000)
    expect(s.p50).toBeGreaterThan(500 * 0.97)
    expect(s.p50).toBeLessThan(500 * 1.03)
    expect(s.p99).toBeGreaterThan(990 * 0.97)
    expect(s.p99).toBeLessThanOrEqual(1000)
    expect(s.max).toBe(1000)
    expect(s.mean).toBeCloseTo(500.05, 1)
  })

  it('reports zeros when empty and treats negative durations (clock skew) as 0', () => {
    const h = new LatencyHistogram()
    expect(h.summary()).toEqual({ count: 0, mean: 0, p50: 0, p95: 0, p99: 0, max: 0 })
    h.record(-5)
    expect(h.summary().p99).toBe(0)
  })
})

describe('rate window', () => {
  it('averages events per second over the window, forgetting older seconds', () => {
    let now = 1_000_000
    const w = new RateWindow(10, () => now)
    for (let s = 0; s < 10; s++) {
      w.add(100)
      now += 1000
    }
    expect(w.perSecond()).toBeCloseTo(100, 0)
    now += 60_000
    expect(w.perSecond()).toBe(0)
  })
})
