import type { MetricsSnapshot } from '@tierbus/core'

/** The tiers the advisor climbs, lowest first. */
export const TIER_LADDER = ['memory', 'db-realtime', 'redis-streams', 'sqs-sns'] as const
/** A tier the advisor can recommend. */
export type AdvisedTier = (typeof TIER_LADDER)[number] | 'nats'

/** The migration triggers of SignalsLoop's queue evaluation, in one constant so teams can tune them. */
export const ADVISOR_THRESHOLDS = Object.freeze({
  /** Above this, leave the database tier for Redis Streams. */
  redisEventsPerDay: 10_000,
  /** Above this, move to SQS/SNS. */
  sqsEventsPerDay: 100_000,
  /** A latency need below this rules out the database tier (Realtime: 100-500 ms). */
  lowLatencyMs: 100,
  /** More agents than this need a dedicated queue's orchestration. */
  maxAgentsOnDatabase: 20,
})

/** What the advisor looks at: measured volume and latency, plus the team's requirements. */
export interface Workload {
  /** The tier the app runs on now. */
  readonly currentTier: AdvisedTier
  readonly eventsPerDay: number
  /** Measured end-to-end p99, ms. */
  readonly p99LatencyMs?: number
  /** The latency the product needs, ms (a need under 100 ms moves the database tier to Redis). */
  readonly latencyRequirementMs?: number
  /** Delivery guarantees with an SLA are required (SQS/SNS). */
  readonly guaranteedDeliverySla?: boolean
  readonly multiRegion?: boolean
  readonly agents?: number
  /** Running in production (memory is never recommended there). */
  readonly production?: boolean
  /** How many seconds of traffic `eventsPerDay` was measured over (from live metrics). */
  readonly observedSeconds?: number
  /** Events the tier's retention removed before a group settled them (from live metrics). */
  readonly trimmedUnread?: number
}

/** One trigger the advisor evaluated. */
export interface Trigger {
  readonly name: string
  readonly fired: boolean
  /** The tier this trigger requires when it fires. */
  readonly requires: AdvisedTier
  readonly reason: string
}

/** The advisor's verdict (plain JSON). */
export interface Verdict {
  readonly currentTier: AdvisedTier
  readonly recommendedTier: AdvisedTier
  /**
   * `migrate`: move to `recommendedTier` now. `watch`: only extrapolated volume (under an hour of traffic)
   * points at `recommendedTier`: keep measuring before acting. `stay`: the current tier carries the load.
   */
  readonly action: 'stay' | 'migrate' | 'watch'
  readonly reasons: readonly string[]
  readonly triggers: readonly Trigger[]
  /** True when the recommendation rests on volume extrapolated from less than an hour of traffic; `action` is then `watch`. */
  readonly provisional: boolean
}

/** Below this much observed traffic a verdict from live metrics is provisional. */
export const PROVISIONAL_BELOW_SECONDS = 3_600

const rank = (t: AdvisedTier) => (t === 'nats' ? 2 : TIER_LADDER.indexOf(t))

/**
 * Recommends a tier with reasons. It never recommends moving down: a tier that carries the load keeps it
 * (say so in `reasons`), and NATS stays NATS unless SQS is required. A move that rests only on volume
 * extrapolated from less than an hour of traffic is `watch`, never `migrate`.
 */
export function adviseTier(w: Workload, thresholds = ADVISOR_THRESHOLDS): Verdict {
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
  const volume = (name: string, threshold: number, requires: AdvisedTier, to: string): Trigger => ({
    name,
    fired: w.eventsPerDay > threshold,
    requires,
    reason: `${fmt(w.eventsPerDay)} events/day > ${fmt(threshold)}: move to ${to}`,
  })
  const triggers: Trigger[] = [
    {
      name: 'production-needs-persistence',
      fired: Boolean(w.production) && w.currentTier === 'memory',
      requires: 'db-realtime',
      reason: 'production needs a persistent tier: memory loses events on restart',
    },
    volume('events-per-day-over-redis-threshold', thresholds.redisEventsPerDay, 'redis-streams', 'Redis Streams'),
    volume('events-per-day-over-sqs-threshold', thresholds.sqsEventsPerDay, 'sqs-sns', 'SQS/SNS'),
    {
      name: 'latency-requirement',
      fired: w.latencyRequirementMs !== undefined && w.latencyRequirementMs < thresholds.lowLatencyMs,
      requires: 'redis-streams',
      reason:
        w.latencyRequirementMs === undefined
          ? `no latency requirement given (one under ${thresholds.lowLatencyMs} ms needs Redis Streams)`
          : `latency requirement ${w.latencyRequirementMs} ms < ${thresholds.lowLatencyMs} ms: a Postgres push takes 100-500 ms, Redis Streams 10-50 ms`,
    },
    {
      name: 'agents-over-threshold',
      fired: (w.agents ?? 0) > thresholds.maxAgentsOnDatabase,
      requires: 'redis-streams',
      reason: `${w.agents ?? 0} agents ${(w.agents ?? 0) > thresholds.maxAgentsOnDatabase ? '>' : '<='} ${thresholds.maxAgentsOnDatabase}: more need a dedicated queue's orchestration`,
    },
    {
      name: 'guaranteed-delivery-sla',
      fired: Boolean(w.guaranteedDeliverySla),
      requires: 'sqs-sns',
      reason: 'guaranteed delivery SLAs required: SQS/SNS',
    },
    {
      name: 'multi-region',
      fired: Boolean(w.multiRegion),
      requires: 'sqs-sns',
      reason: 'multi-region deployment: SQS/SNS',
    },
  ]
  const requiredBy = (list: readonly Trigger[]): AdvisedTier => {
    let required: AdvisedTier = w.currentTier
    for (const t of list) if (t.fired && rank(t.requires) > rank(required)) required = t.requires
    // NATS already carries Redis-level volume and latency; only SQS-level needs move it.
    return w.currentTier === 'nats' && required === 'redis-streams' ? 'nats' : required
  }
  const required = requiredBy(triggers)
  const fired = triggers.filter((t) => t.fired && rank(t.requires) >= rank(w.currentTier))
  const reasons =
    fired.length > 0
      ? fired.map((t) => t.reason)
      : [`no trigger fired: ${w.currentTier} carries ${fmt(w.eventsPerDay)} events/day`]
  if (w.p99LatencyMs !== undefined && w.latencyRequirementMs !== undefined && w.p99LatencyMs > w.latencyRequirementMs) {
    reasons.push(`measured p99 ${w.p99LatencyMs} ms exceeds the ${w.latencyRequirementMs} ms requirement`)
  }
  if (w.trimmedUnread) {
    reasons.push(
      `warning: retention removed ${fmt(w.trimmedUnread)} events before a consumer group settled them: raise the retention limit, or drop trimUnread so a lagging group holds the stream`,
    )
  }
  // Volume measured over less than an hour is a guess: what it alone adds to the verdict is only watched.
  const observedSeconds = w.observedSeconds
  const shortSample = observedSeconds !== undefined && observedSeconds < PROVISIONAL_BELOW_SECONDS
  const provisional =
    shortSample && requiredBy(triggers.filter((t) => !t.name.startsWith('events-per-day'))) !== required
  if (shortSample) {
    reasons.push(
      `provisional: events/day extrapolated from ${Math.round(observedSeconds)} s of traffic; watch it for a day before migrating`,
    )
  }
  const action = required === w.currentTier ? 'stay' : provisional ? 'watch' : 'migrate'
  return { currentTier: w.currentTier, recommendedTier: required, action, reasons, triggers, provisional }
}

/** Derives volume (average events/day over the process's uptime) and latency from a bus's metrics snapshot. */
export function workloadFromMetrics(
  snapshot: MetricsSnapshot,
  requirements: Omit<Workload, 'eventsPerDay' | 'p99LatencyMs' | 'currentTier'> & { currentTier: AdvisedTier },
): Workload {
  // The average over the process's life, not the 10 s window: a burst is not a daily volume.
  const seconds = Math.max(1, snapshot.uptimeMs / 1000)
  // `next start` and most hosts set NODE_ENV; an explicit `production` wins.
  const production = requirements.production ?? globalThis.process?.env?.NODE_ENV === 'production'
  return {
    ...requirements,
    production,
    eventsPerDay: (snapshot.totals.published / seconds) * 86_400,
    p99LatencyMs: snapshot.endToEndMs.p99,
    observedSeconds: seconds,
    trimmedUnread: snapshot.totals.trimmedUnread ?? 0,
  }
}
