import { ConfigError, formatRoutes, patternCovers } from '@tierbus/core'
import type { MessageKind } from './profile.js'
import {
  type PlannedTier,
  ROUTE_PREFERENCES,
  ROUTE_TIER_TRAITS,
  type RouteNeed,
  type TierTraits,
} from './tier-traits.js'

/** One message class as the route planner sees it. */
export interface ClassLoad {
  readonly name: string
  readonly subjects: readonly string[]
  readonly kind: MessageKind
  readonly persistent: boolean
  readonly latencyMs: number
  /** Events/s at the profile's highest peak factor. */
  readonly peakPerSecond: number
  readonly messagesPerMonth: number
  /** Average bytes/s, and at the highest peak (for pricing the route table). */
  readonly bytesPerSecond: number
  readonly peakBytesPerSecond: number
}

/** One line of the route table: events matching `match` go to `transport`. */
export interface Route {
  readonly match: string
  readonly transport: PlannedTier
  /** The message class the route is for; null for the catch-all. */
  readonly class: string | null
  readonly reason: string
}

/** The recommended route table (plain JSON). */
export interface RoutePlan {
  /** First match wins; the last route is the catch-all `>`. */
  readonly routes: readonly Route[]
  /** The table in `TIERBUS_ROUTES` form, e.g. `coord.>=amqp;work.>=sqs;>=sqs`. */
  readonly env: string
  /** Share of the monthly messages each tier carries, 0..1. */
  readonly shares: Readonly<Partial<Record<PlannedTier, number>>>
}

/** Why a tier cannot carry a class, or nothing when it can. */
function misfits(c: ClassLoad, tier: PlannedTier, t: TierTraits): string[] {
  const out: string[] = []
  if (t.latencyMs[1] > c.latencyMs) out.push(`${tier} takes up to ${t.latencyMs[1]} ms`)
  if (t.maxEventsPerSecond !== null && c.peakPerSecond > t.maxEventsPerSecond)
    out.push(`${tier} carries ~${fmt(t.maxEventsPerSecond)}/s`)
  if (c.persistent && !t.persistent) out.push(`${tier} is not persistent`)
  return out
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')

/** Real-time when the async tier (SQS) is too slow for it; a stream when it is high-volume telemetry. */
function needOf(c: ClassLoad): RouteNeed {
  if (c.kind === 'stream') return 'stream'
  return c.latencyMs < ROUTE_TIER_TRAITS.sqs.latencyMs[1] ? 'realtime' : 'async'
}

const NEED_TEXT: Record<RouteNeed, (c: ClassLoad) => string> = {
  realtime: (c) =>
    `real-time ${c.kind} (needs ${c.latencyMs} ms; SQS takes ${ROUTE_TIER_TRAITS.sqs.latencyMs.join('-')} ms)`,
  async: (c) => `async ${c.kind}${c.persistent ? ', persistent' : ''} (tolerates ${fmt(c.latencyMs)} ms)`,
  stream: () =>
    'high-volume transient stream (the MisterSmith plan puts it on MSK; tierbus has no Kafka tier, and NATS JetStream, a replicated log with replay, is the nearest)',
}

/** Picks the first preferred tier that carries the class; says why, and what it skipped. */
export function chooseTier(c: ClassLoad): { tier: PlannedTier; reason: string } {
  const need = needOf(c)
  const skipped: string[] = []
  for (const tier of ROUTE_PREFERENCES[need]) {
    const traits = ROUTE_TIER_TRAITS[tier]
    const why = misfits(c, tier, traits)
    if (why.length === 0) {
      const head = `${c.name}: ${NEED_TEXT[need](c)}, ${fmt(c.peakPerSecond)}/s at peak -> ${tier}: ${traits.service}, ${traits.latencyMs.join('-')} ms`
      return { tier, reason: skipped.length ? `${head}; skipped ${skipped.join('; ')}` : head }
    }
    skipped.push(why.join(', '))
  }
  throw new ConfigError(
    `${c.name}: no tier carries it (${skipped.join('; ')}); relax its latency_ms or split the class`,
  )
}

/** Literal tokens first: `agent.status.>` must come before `agent.>` for first-match-wins to reach it. */
const specificity = (pattern: string) => pattern.split('.').filter((t) => t !== '*' && t !== '>').length

/**
 * Recommends a route table from the classes' kinds, latency needs and peak volumes. Events no class
 * names go where most of the workload goes (the catch-all `>`). Throws a ConfigError when one class's
 * subjects hide another's on a different tier.
 */
export function recommendRoutes(classes: readonly ClassLoad[]): RoutePlan {
  const total = classes.reduce((n, c) => n + c.messagesPerMonth, 0)
  const shares: Partial<Record<PlannedTier, number>> = {}
  const routes: Route[] = []
  for (const c of classes) {
    const { tier, reason } = chooseTier(c)
    shares[tier] = (shares[tier] ?? 0) + (total > 0 ? c.messagesPerMonth / total : 0)
    for (const match of c.subjects) routes.push({ match, transport: tier, class: c.name, reason })
  }
  routes.sort((a, b) => specificity(b.match) - specificity(a.match))
  assertNoShadowedRoutes(routes)
  // A route an earlier one on the same tier covers could never match: drop it (the table would not parse).
  const reachable = routes.filter((r, k) => !routes.slice(0, k).some((e) => patternCovers(e.match, r.match)))
  const entries = Object.entries(shares) as [PlannedTier, number][]
  const [fallback, share] = entries.reduce((best, e) => (e[1] > best[1] ? e : best), ['sqs', 0] as [
    PlannedTier,
    number,
  ])
  reachable.push({
    match: '>',
    transport: fallback,
    class: null,
    reason: `catch-all: events no class names go where most of the workload goes (${fallback}, ${Math.round(share * 100)} % of messages)`,
  })
  const rounded = Object.fromEntries(entries.map(([t, s]) => [t, Math.round(s * 1000) / 1000]))
  const env = formatRoutes(reachable.map((r) => ({ match: r.match, tier: r.transport })))
  return { routes: reachable, env, shares: rounded }
}

function assertNoShadowedRoutes(routes: readonly Route[]): void {
  routes.forEach((later, k) => {
    const earlier = routes
      .slice(0, k)
      .find((r) => patternCovers(r.match, later.match) && r.transport !== later.transport)
    if (earlier) {
      throw new ConfigError(
        `subjects ${JSON.stringify(earlier.match)} (${earlier.class}, ${earlier.transport}) hide ${JSON.stringify(later.match)} (${later.class}, ${later.transport}): give the classes disjoint subjects`,
      )
    }
  })
}
