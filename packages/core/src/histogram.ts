/** Percentile summary of a latency histogram, in milliseconds. */
export interface LatencySummary {
  count: number
  mean: number
  p50: number
  p95: number
  p99: number
  max: number
}

/** A latency histogram in the Prometheus shape: cumulative counts at each bound, the exact sum and the count. */
export interface LatencyBuckets {
  /** Upper bounds in milliseconds, ascending (`le`); the implicit last bucket is +Inf (`count`). */
  readonly boundsMs: readonly number[]
  /** Observations at or below each bound (cumulative), aligned with `boundsMs`. */
  readonly counts: readonly number[]
  /** Sum of all observations, ms. */
  readonly sumMs: number
  readonly count: number
}

/** Bucket bounds (ms) of `LatencyHistogram.buckets()`: 1 ms to 60 s, Prometheus' default latency ladder widened. */
export const LATENCY_BUCKET_BOUNDS_MS: readonly number[] = Object.freeze([
  1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000,
])

// Log-scale buckets over microseconds: 32 per power of two, so a reported percentile is within ~2%
// of the true value; 1,200 buckets reach ~2^37 us (38 hours).
const PER_OCTAVE = 32
const BUCKETS = 1200

/** A fixed-size log-bucket histogram: O(1) record, bounded memory, percentiles within ~2%. */
export class LatencyHistogram {
  private readonly counts = new Uint32Array(BUCKETS)
  private total = 0
  private sum = 0
  private maximum = 0

  /** Records one observation in milliseconds (negative values, from clock skew, count as 0). */
  record(ms: number): void {
    // biome-ignore lint/complexity/useMathMinMax: NaN must count as 0, and Math.max(NaN, 0) is NaN
    const v = ms > 0 ? ms : 0
    const us = v * 1000
    const i = us < 1 ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log2(us) * PER_OCTAVE) + 1)
    this.counts[i] = (this.counts[i] ?? 0) + 1
    this.total++
    this.sum += v
    if (v > this.maximum) this.maximum = v
  }

  /** Adds another histogram's observations to this one. */
  merge(other: LatencyHistogram): this {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] = (this.counts[i] ?? 0) + (other.counts[i] ?? 0)
    this.total += other.total
    this.sum += other.sum
    if (other.maximum > this.maximum) this.maximum = other.maximum
    return this
  }

  /** The value (ms) below which `q` (0..1) of the observations fall. */
  quantile(q: number): number {
    if (this.total === 0) return 0
    const rank = Math.max(1, Math.ceil(q * this.total))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] ?? 0
      if (seen >= rank) {
        if (i === 0) return 0
        const upperUs = 2 ** (i / PER_OCTAVE)
        return Math.min(this.maximum, upperUs / 1000)
      }
    }
    return this.maximum
  }

  /**
   * Cumulative counts at `boundsMs` (ascending). Derived from the log buckets, so an observation less than
   * ~2% below a bound may be counted in the next bucket; the sum and the count are exact.
   */
  buckets(boundsMs: readonly number[] = LATENCY_BUCKET_BOUNDS_MS): LatencyBuckets {
    const counts: number[] = []
    let seen = 0
    for (let i = 0; i < BUCKETS && counts.length < boundsMs.length; i++) {
      // Log bucket i holds observations below 2^(i/32) us; it fits under a bound only if that edge does.
      const upperMs = 2 ** (i / PER_OCTAVE) / 1000
      while (counts.length < boundsMs.length && upperMs > (boundsMs[counts.length] as number)) counts.push(seen)
      seen += this.counts[i] as number
    }
    while (counts.length < boundsMs.length) counts.push(this.total)
    return { boundsMs, counts, sumMs: this.sum, count: this.total }
  }

  /** Count, mean, p50/p95/p99 and max, rounded to 0.001 ms. */
  summary(): LatencySummary {
    const r = (x: number) => Math.round(x * 1000) / 1000
    return {
      count: this.total,
      mean: r(this.total ? this.sum / this.total : 0),
      p50: r(this.quantile(0.5)),
      p95: r(this.quantile(0.95)),
      p99: r(this.quantile(0.99)),
      max: r(this.maximum),
    }
  }
}

/** Events per second over a sliding window of whole seconds (ring of per-second counters). */
export class RateWindow {
  private readonly counts: Float64Array
  private readonly stamps: Float64Array

  constructor(
    readonly windowSeconds = 10,
    private readonly now: () => number = Date.now,
  ) {
    this.counts = new Float64Array(windowSeconds + 1)
    this.stamps = new Float64Array(windowSeconds + 1).fill(-1)
  }

  /** Adds `n` events at the current time. */
  add(n = 1): void {
    this.addAt(this.now(), n)
  }

  /** Adds `n` events at `nowMs` (a clock read the caller already made). */
  addAt(nowMs: number, n = 1): void {
    const sec = Math.floor(nowMs / 1000)
    const i = sec % this.counts.length
    if (this.stamps[i] !== sec) {
      this.stamps[i] = sec
      this.counts[i] = 0
    }
    this.counts[i] = (this.counts[i] ?? 0) + n
  }

  /** Mean rate over the last `windowSeconds` complete seconds plus the current partial one. */
  perSecond(): number {
    const nowMs = this.now()
    const sec = Math.floor(nowMs / 1000)
    let sum = 0
    for (let i = 0; i < this.counts.length; i++) {
      const s = this.stamps[i] ?? -1
      if (s >= 0 && s > sec - this.counts.length && s <= sec) sum += this.counts[i] ?? 0
    }
    const elapsed = this.windowSeconds + (nowMs % 1000) / 1000
    return Math.round((sum / elapsed) * 100) / 100
  }
}
