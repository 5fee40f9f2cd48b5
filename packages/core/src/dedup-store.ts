/** Outcome of claiming an event for a group. */
export type ClaimResult = 'claimed' | 'processing' | 'done'

/**
 * Remembers which keys (e.g. `(group, event id)`) were handled, so a handler runs once per key: the
 * `idempotent()` middleware and the migrator's cross-tier dedup use it. Implementations: `memoryDedupStore`
 * here, `redisDedupStore` in @tierbus/redis-streams, `postgresDedupStore` in @tierbus/db-realtime.
 * Implementations MUST make `claim` atomic across processes, and MUST let only the holder named in a
 * claim (never a caller without one) claim a key again before its lease or TTL runs out.
 */
export interface DedupStore {
  /**
   * Claims the key for `leaseMs` if nobody holds or finished it; otherwise says who does. A `holder`
   * (the tier a copy came from) may claim a key it holds again, renewing the lease: that is its own
   * redelivery (a retry), which must not wait behind itself.
   */
  claim(key: string, leaseMs: number, holder?: string): Promise<ClaimResult>
  /**
   * Marks the key done for `ttlMs` (duplicates within it are skipped). With a `holder`, that holder may
   * still claim it (a dead letter redriven through the tier that wrote it); everyone else sees `done`.
   */
  complete(key: string, ttlMs: number, holder?: string): Promise<void>
  /** Drops a claim whose handler failed, so a redelivery may claim it again. */
  release(key: string): Promise<void>
}

/** How a store writes a state, tagged with its holder when there is one (`processing:target`). */
export function dedupStateValue(state: 'processing' | 'done', holder: string | undefined): string {
  return holder ? `${state}:${holder}` : state
}

/** Defaults of dedup stores' users. */
export const DEDUP_DEFAULTS = Object.freeze({
  /** How long a finished key is remembered: longer than any redelivery or cutover overlap. */
  ttlMs: 24 * 60 * 60 * 1000,
})

/** An in-process dedup store (one process only: tests, and single-instance apps). */
export function memoryDedupStore(now: () => number = Date.now): DedupStore {
  const entries = new Map<string, { state: 'processing' | 'done'; holder: string | undefined; until: number }>()
  let sweeps = 0
  const sweep = () => {
    if (++sweeps % 1024 !== 0) return
    const t = now()
    for (const [k, e] of entries) if (e.until <= t) entries.delete(k)
  }
  return {
    async claim(key, leaseMs, holder) {
      sweep()
      const e = entries.get(key)
      if (e && e.until > now() && (holder === undefined || e.holder !== holder)) return e.state
      entries.set(key, { state: 'processing', holder, until: now() + leaseMs })
      return 'claimed'
    },
    async complete(key, ttlMs, holder) {
      entries.set(key, { state: 'done', holder, until: now() + ttlMs })
    },
    async release(key) {
      if (entries.get(key)?.state === 'processing') entries.delete(key)
    },
  }
}
