import { type LatencyBuckets, LatencyHistogram, type LatencySummary, RateWindow } from './histogram.js'
import { compilePattern } from './subjects.js'
import type { DeadLetterKind } from './transport.js'

/** Counters of one event type (or of all types). */
export interface EventCounts {
  published: number
  delivered: number
  acked: number
  retried: number
  deadLettered: number
}

/** Counters and latencies of one event type. */
export interface TypeMetrics extends EventCounts {
  /** Handler run time. */
  handlerMs: LatencySummary
  /** From the envelope's `time` (publish) to the handler finishing. */
  endToEndMs: LatencySummary
  /** `handlerMs` as cumulative buckets (what a Prometheus histogram needs). */
  handlerBuckets: LatencyBuckets
  /** `endToEndMs` as cumulative buckets. */
  endToEndBuckets: LatencyBuckets
}

/** Counters of one consumer group in this process. */
export interface GroupMetrics {
  /** Patterns this group subscribes to here. */
  patterns: string[]
  delivered: number
  acked: number
  retried: number
  deadLettered: number
  /**
   * Events of matching types published by this process and not yet settled (acked or dead-lettered) by
   * this group here: the backlog when one process publishes and consumes (0 when it only consumes).
   */
  lag: number
}

/** `bus.metrics()`: a plain-JSON snapshot. */
export interface MetricsSnapshot {
  transport: string
  /** RFC 3339 time of the snapshot. */
  at: string
  uptimeMs: number
  totals: EventCounts & {
    /** Dead letters by reason kind. */
    deadLetteredByKind: Partial<Record<DeadLetterKind, number>>
    /** Ack/retry/dead-letter calls the transport failed (the message is redelivered after its lease). */
    settleFailures: number
    /**
     * Events the tier's retention removed before a consumer group settled them (per group), as the
     * transport reports it (`Transport.trimmedUnread`); 0 on a tier whose retention never does.
     */
    trimmedUnread: number
  }
  /** Events per second over the sliding window. */
  rates: { windowSeconds: number; publishedPerSec: number; ackedPerSec: number; failedPerSec: number }
  /** Share of handler runs that threw, over all time (0..1). */
  errorRate: number
  handlerMs: LatencySummary
  endToEndMs: LatencySummary
  byType: Record<string, TypeMetrics>
  byGroup: Record<string, GroupMetrics>
}

class TypeStats {
  published = 0
  delivered = 0
  acked = 0
  retried = 0
  deadLettered = 0
  readonly handler = new LatencyHistogram()
  readonly endToEnd = new LatencyHistogram()
}

class GroupStats {
  readonly patterns = new Map<string, (type: string) => boolean>()
  delivered = 0
  acked = 0
  retried = 0
  deadLettered = 0
}

/** Collects the bus's counters and histograms; cheap enough for every event on the hot path. */
export class Metrics {
  private readonly types = new Map<string, TypeStats>()
  private readonly groups = new Map<string, GroupStats>()
  private readonly publishedRate: RateWindow
  private readonly ackedRate: RateWindow
  private readonly failedRate: RateWindow
  private readonly byKind: Partial<Record<DeadLetterKind, number>> = {}
  private readonly started = Date.now()
  private failures = 0
  private runs = 0
  private settleFailures = 0
  /** The last type looked up: consecutive events are mostly of one type, and this skips the map. */
  private lastType: string | undefined
  private lastStats: TypeStats | undefined

  constructor(
    private readonly transport: string,
    windowSeconds = 10,
  ) {
    this.publishedRate = new RateWindow(windowSeconds)
    this.ackedRate = new RateWindow(windowSeconds)
    this.failedRate = new RateWindow(windowSeconds)
  }

  private stats(type: string): TypeStats {
    if (type === this.lastType && this.lastStats) return this.lastStats
    let s = this.types.get(type)
    if (!s) {
      s = new TypeStats()
      this.types.set(type, s)
    }
    this.lastType = type
    this.lastStats = s
    return s
  }

  /** Counters of a consumer group (a subscription registers its group and pattern). */
  group(name: string, pattern: string): GroupStats {
    let g = this.groups.get(name)
    if (!g) {
      g = new GroupStats()
      this.groups.set(name, g)
    }
    if (!g.patterns.has(pattern)) g.patterns.set(pattern, compilePattern(pattern))
    return g
  }

  /** `n` events of `type` were published. */
  published(type: string, n = 1): void {
    this.stats(type).published += n
    this.publishedRate.add(n)
  }

  /**
   * These envelopes were published (one clock read for the rate, however many there are; none when the
   * caller passes the time, `nowMs`, it read already).
   */
  publishedAll(envelopes: readonly { readonly type: string }[], nowMs?: number): void {
    for (const e of envelopes) this.stats(e.type).published++
    if (nowMs === undefined) this.publishedRate.add(envelopes.length)
    else this.publishedRate.addAt(nowMs, envelopes.length)
  }

  /** An event was handed to a handler (or to the dead-letter path). */
  delivered(type: string): void {
    this.stats(type).delivered++
  }

  /** A handler succeeded. `publishedAtMs` is the envelope time; `nowMs` the time now, if the caller has it. */
  acked(type: string, handlerMs: number, publishedAtMs: number, nowMs: number = Date.now()): void {
    const s = this.stats(type)
    s.acked++
    this.runs++
    s.handler.record(handlerMs)
    const now = nowMs
    const e2e = now - publishedAtMs
    if (!Number.isNaN(e2e)) s.endToEnd.record(e2e)
    this.ackedRate.addAt(now)
  }

  /** A handler threw (it will be retried or dead-lettered). */
  failed(type: string, handlerMs: number): void {
    this.runs++
    this.failures++
    this.stats(type).handler.record(handlerMs)
    this.failedRate.add()
  }

  /** A delivery was scheduled for another attempt. */
  retried(type: string): void {
    this.stats(type).retried++
  }

  /** A delivery went to the dead-letter destination. */
  deadLettered(type: string, kind: DeadLetterKind): void {
    this.stats(type).deadLettered++
    this.byKind[kind] = (this.byKind[kind] ?? 0) + 1
  }

  /** The transport failed to settle a delivery. */
  settleFailed(): void {
    this.settleFailures++
  }

  /** A plain-JSON snapshot of everything collected. */
  snapshot(trimmedUnread = 0): MetricsSnapshot {
    const totals = { published: 0, delivered: 0, acked: 0, retried: 0, deadLettered: 0 }
    const byType: Record<string, TypeMetrics> = {}
    const handler = new LatencyHistogram()
    const endToEnd = new LatencyHistogram()
    for (const [type, s] of [...this.types].sort(([a], [b]) => a.localeCompare(b))) {
      totals.published += s.published
      totals.delivered += s.delivered
      totals.acked += s.acked
      totals.retried += s.retried
      totals.deadLettered += s.deadLettered
      handler.merge(s.handler)
      endToEnd.merge(s.endToEnd)
      byType[type] = {
        published: s.published,
        delivered: s.delivered,
        acked: s.acked,
        retried: s.retried,
        deadLettered: s.deadLettered,
        handlerMs: s.handler.summary(),
        endToEndMs: s.endToEnd.summary(),
        handlerBuckets: s.handler.buckets(),
        endToEndBuckets: s.endToEnd.buckets(),
      }
    }
    return {
      transport: this.transport,
      at: new Date().toISOString(),
      uptimeMs: Date.now() - this.started,
      totals: { ...totals, deadLetteredByKind: { ...this.byKind }, settleFailures: this.settleFailures, trimmedUnread },
      rates: {
        windowSeconds: this.publishedRate.windowSeconds,
        publishedPerSec: this.publishedRate.perSecond(),
        ackedPerSec: this.ackedRate.perSecond(),
        failedPerSec: this.failedRate.perSecond(),
      },
      errorRate: this.runs ? Math.round((this.failures / this.runs) * 10_000) / 10_000 : 0,
      handlerMs: handler.summary(),
      endToEndMs: endToEnd.summary(),
      byType,
      byGroup: Object.fromEntries(
        [...this.groups]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([name, g]) => {
            let published = 0
            for (const [type, t] of this.types)
              for (const match of g.patterns.values()) if (match(type)) published += t.published
            return [
              name,
              {
                patterns: [...g.patterns.keys()],
                delivered: g.delivered,
                acked: g.acked,
                retried: g.retried,
                deadLettered: g.deadLettered,
                lag: Math.max(0, published - g.acked - g.deadLettered),
              },
            ]
          }),
      ),
    }
  }
}
