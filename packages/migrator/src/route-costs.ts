import { type OptionCost, priceOptions } from './option-costs.js'
import type { Pricing } from './pricing.js'
import type { ClassLoad, RoutePlan } from './routes.js'
import type { PlannedTier } from './tier-traits.js'

/** What one tier of the route table costs for the classes routed to it. */
export interface RouteTierCost {
  readonly transport: PlannedTier
  readonly classes: readonly string[]
  /** The option that prices this tier (amqp: amazon-mq, sqs: sqs-sns, nats: nats-self-hosted, redis: elasticache-redis). */
  readonly cost: OptionCost
}

/** The monthly cost of running the recommended route table (plain JSON). */
export interface HybridCost {
  readonly monthlyUsd: number
  readonly tiers: readonly RouteTierCost[]
}

/**
 * Prices each tier of the route table on only the classes it carries. Every agent still holds a
 * connection to each broker it uses, so a broker tier is sized for all `connections`.
 */
export function priceRoutes(
  plan: RoutePlan,
  classes: readonly ClassLoad[],
  connections: number,
  secondsPerMonth: number,
  pricing: Pricing,
): HybridCost {
  const tiers: RouteTierCost[] = []
  for (const transport of Object.keys(plan.shares) as PlannedTier[]) {
    const on = classes.filter((c) => plan.routes.some((r) => r.class === c.name && r.transport === transport))
    const sum = (f: (c: ClassLoad) => number) => on.reduce((n, c) => n + f(c), 0)
    const options = priceOptions(
      {
        messagesPerMonth: sum((c) => c.messagesPerMonth),
        bytesPerMonth: sum((c) => c.bytesPerSecond) * secondsPerMonth,
        peakMessagesPerSecond: sum((c) => c.peakPerSecond),
        peakBytesPerSecond: sum((c) => c.peakBytesPerSecond),
        connections,
        persistentMessagesPerMonth: sum((c) => (c.persistent ? c.messagesPerMonth : 0)),
        broadcastMessagesPerMonth: sum((c) => (c.kind === 'broadcast' ? c.messagesPerMonth : 0)),
      },
      pricing,
    )
    const cost = options.find((o) => o.transport === transport)
    if (cost) tiers.push({ transport, classes: on.map((c) => c.name), cost })
  }
  return { monthlyUsd: Math.round(tiers.reduce((n, t) => n + t.cost.monthlyUsd, 0) * 100) / 100, tiers }
}
