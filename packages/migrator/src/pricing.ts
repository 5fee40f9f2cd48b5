import pricingData from './pricing.json' with { type: 'json' }

/** One tier's cost model (see src/pricing.json, the single place prices live). */
export interface TierPricing {
  readonly baseMonthly: number
  readonly perMillionRequests: number
  /** Billable requests one event costs end to end. */
  readonly requestsPerEvent: number
  /** Highest sustained events/s the tier is meant for; null when effectively unlimited. */
  readonly maxEventsPerSecond: number | null
  /** Where the numbers come from. */
  readonly source: string
}

/** The pricing table: tier name -> cost model. */
export interface Pricing {
  readonly currency: string
  readonly tiers: Readonly<Record<string, TierPricing>>
}

/** The default pricing, from seeds 000, 001 and 004. */
export const DEFAULT_PRICING: Pricing = pricingData as Pricing

/** Monthly cost of `eventsPerMonth` events on a tier. */
export function monthlyCost(pricing: TierPricing, eventsPerMonth: number): number {
  return pricing.baseMonthly + (eventsPerMonth * pricing.requestsPerEvent * pricing.perMillionRequests) / 1_000_000
}
