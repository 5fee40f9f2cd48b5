import { LatencyHistogram, type LatencySummary } from '@tierbus/core'

/** Per-group result of shadow reading: ids seen on both tiers, on one only, and the target's lag. */
export interface ShadowGroupReport {
  readonly matched: number
  /** Ids seen on the source only, for longer than the grace period. */
  readonly sourceOnly: readonly string[]
  /** Ids seen on the target only, for longer than the grace period. */
  readonly targetOnly: readonly string[]
  /** How much later the target delivered an event than the source (negative: earlier), ms. */
  readonly targetLagMs: LatencySummary
}

/** Shadow report by group (plain JSON). */
export type ShadowReport = Record<string, ShadowGroupReport>

interface Sighting {
  source?: number
  target?: number
}

/** Compares what a group receives from the source and from the target during the shadow phase. */
export class ShadowComparator {
  private readonly groups = new Map<
    string,
    { pending: Map<string, Sighting>; matched: number; lag: LatencyHistogram; earlier: number }
  >()

  constructor(
    private readonly graceMs = 30_000,
    private readonly maxPending = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records that `side` delivered event `id` to `group`. */
  seen(side: 'source' | 'target', group: string, id: string): void {
    let g = this.groups.get(group)
    if (!g) {
      g = { pending: new Map(), matched: 0, lag: new LatencyHistogram(), earlier: 0 }
      this.groups.set(group, g)
    }
    const s = g.pending.get(id) ?? {}
    if (s[side] !== undefined) return
    s[side] = this.now()
    if (s.source !== undefined && s.target !== undefined) {
      g.pending.delete(id)
      g.matched++
      const lag = s.target - s.source
      if (lag < 0) g.earlier++
      g.lag.record(Math.max(0, lag))
      return
    }
    if (g.pending.size >= this.maxPending) {
      const oldest = g.pending.keys().next()
      if (!oldest.done) g.pending.delete(oldest.value)
    }
    g.pending.set(id, s)
  }

  /** Ids seen on one side only for longer than the grace period, and lag percentiles, per group. */
  report(): ShadowReport {
    const cutoff = this.now() - this.graceMs
    const out: ShadowReport = {}
    for (const [group, g] of this.groups) {
      const sourceOnly: string[] = []
      const targetOnly: string[] = []
      for (const [id, s] of g.pending) {
        if (s.source !== undefined && s.source <= cutoff) sourceOnly.push(id)
        if (s.target !== undefined && s.target <= cutoff) targetOnly.push(id)
      }
      out[group] = { matched: g.matched, sourceOnly, targetOnly, targetLagMs: g.lag.summary() }
    }
    return out
  }
}
