import type { MetricsSnapshot } from '@tierbus/core'

/** The tiers the advisor climbs, lowest first. */
export const TIER_LADDER = ['memory', 'db-realtime', 'redis-streams', 'sqs-sns'] as const
/** A tier the advisor can recommend. */
export type AdvisedTier = (typeof TIER_LADDER)[number] | 'nats'

/** Seed 004's migration triggers, in one constant so teams can tune them. */
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
  /** The latency the product needs, ms (seed 004: "< 100 ms" moves to Redis). */
  readonly latencyRequirementMs?: number
  /** Delivery guarantees with an SLA are required (seed 004: SQS). */
  readonly guaranteedDeliverySla?: boolean
  readonly multiRegion?: boolean
  readonly agents?: number
  /** Running in production (memory is never recommended there). */
  readonly production?: boolean
  /** How many seconds of traffic `eventsPerDay` was measured over (from live metrics). */
  readonly observedSeconds?: number
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
  readonly action: 'stay' | 'migrate'
  readonly reasons: readonly string[]
  readonly triggers: readonly Trigger[]
  /** True when the volume was extrapolated from less than an hour of traffic: watch it before acting. */
  readonly provisional: boolean
}

/** Below this much observed traffic a verdict from live metrics is provisional. */
export const PROVISIONAL_BELOW_SECONDS = 3_600

const rank = (t: AdvisedTier) => (t === 'nats' ? 2 : TIER_LADDER.indexOf(t))

/**
 * Recommends a tier with reasons, using seed 004's triggers. It never recommends moving down: a tier
 * that carries the load keeps it (say so in `reasons`), and NATS stays NATS unless SQS is required.
 */
export function adviseTier(w: Workload, thresholds = ADVISOR_THRESHOLDS): Verdict {
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
  const triggers: Trigger[] = [
    {
      name: 'production-needs-persistence',
      fired: Boolean(w.production),
      requires: 'db-realtime',
      reason: 'production needs a persistent tier: memory loses events on restart',
    },
    {
      name: 'events-per-day-over-redis-threshold',
      fired: w.eventsPerDay > thresholds.redisEventsPerDay,
      requires: 'redis-streams',
      reason: `${fmt(w.eventsPerDay)} events/day > ${fmt(thresholds.redisEventsPerDay)} (seed 004: migrate to Redis Streams)`,
    },
    {
      name: 'events-per-day-over-sqs-threshold',
      fired: w.eventsPerDay > thresholds.sqsEventsPerDay,
      requires: 'sqs-sns',
      reason: `${fmt(w.eventsPerDay)} events/day > ${fmt(thresholds.sqsEventsPerDay)} (seed 004: migrate to AWS SQS)`,
    },
    {
      name: 'latency-requirement',
      fired: w.latencyRequirementMs !== undefined && w.latencyRequirementMs < thresholds.lowLatencyMs,
      requires: 'redis-streams',
      reason: `latency requirement ${w.latencyRequirementMs} ms < ${thresholds.lowLatencyMs} ms (seed 004: Realtime is 100-500 ms; Redis Streams 10-50 ms)`,
    },
    {
      name: 'agents-over-threshold',
      fired: (w.agents ?? 0) > thresholds.maxAgentsOnDatabase,
      requires: 'redis-streams',
      reason: `${w.agents} agents > ${thresholds.maxAgentsOnDatabase} (seed 004: needs a dedicated queue's orchestration)`,
    },
    {
      name: 'guaranteed-delivery-sla',
      fired: Boolean(w.guaranteedDeliverySla),
      requires: 'sqs-sns',
      reason: 'guaranteed delivery SLAs required (seed 004: SQS/SNS)',
    },
    { name: 'multi-region', fired: Boolean(w.multiRegion), requires: 'sqs-sns', reason: 'multi-region deployment (seed 004: SQS/SNS)' },
  ]
  let required: AdvisedTier = w.currentTier
  for (const t of triggers) if (t.fired && rank(t.requires) > rank(required)) required = t.requires
  // NATS already carries Redis-level volume and latency; only SQS-level needs move it.
  if (w.currentTier === 'nats' && required === 'redis-streams') required = 'nats'
  const fired = triggers.filter((t) => t.fired && rank(t.requires) >= rank(w.currentTier))
  const reasons = fired.length > 0 ? fired.map((t) => t.reason) : [`no trigger fired: ${w.currentTier} carries ${fmt(w.eventsPerDay)} events/day`]
  if (w.p99LatencyMs !== undefined && w.latencyRequirementMs !== undefined && w.p99LatencyMs > w.latencyRequirementMs) {
    reasons.push(`measured p99 ${w.p99LatencyMs} ms exceeds the ${w.latencyRequirementMs} ms requirement`)
  }
  const provisional = w.observedSeconds !== undefined && w.observedSeconds < PROVISIONAL_BELOW_SECONDS
  if (provisional) reasons.push(`provisional: events/day extrapolated from ${Math.round(w.observedSeconds!)} s of traffic; watch it for a day before migrating`)
  return { currentTier: w.currentTier, recommendedTier: required, action: required === w.currentTier ? 'stay' : 'migrate', reasons, triggers, provisional }
}

/** Derives volume (average events/day over the process's uptime) and latency from a bus's metrics snapshot. */
export function workloadFromMetrics(snapshot: MetricsSnapshot, requirements: Omit<Workload, 'eventsPerDay' | 'p99LatencyMs' | 'currentTier'> & { currentTier: AdvisedTier }): Workload {
  // The average over the process's life, not the 10 s window: a burst is not a daily volume.
  const seconds = Math.max(1, snapshot.uptimeMs / 1000)
  return { ...requirements, eventsPerDay: (snapshot.totals.published / seconds) * 86_400, p99LatencyMs: snapshot.endToEndMs.p99, observedSeconds: seconds }
}
