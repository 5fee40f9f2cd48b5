import { type OptionCost, priceOptions } from './option-costs.js'
import { DEFAULT_PRICING, type Pricing } from './pricing.js'
import type { WorkloadProfile } from './profile.js'
import { type HybridCost, priceRoutes } from './route-costs.js'
import { type ClassLoad, type RoutePlan, recommendRoutes } from './routes.js'

/** Message flow of one message type or of the whole workload. */
export interface Flow {
  readonly messagesPerSecond: number
  readonly bytesPerSecond: number
  readonly messagesPerDay: number
  readonly messagesPerMonth: number
}

/** The flow at one peak factor. */
export interface PeakFlow {
  readonly factor: number
  readonly messagesPerSecond: number
  readonly bytesPerSecond: number
  readonly messagesPerDay: number
}

/** What `planCapacity` returns (plain JSON). */
export interface CapacityPlan {
  readonly profile: string
  readonly agents: number
  /** Broker connections the workload holds (sizes Amazon MQ). */
  readonly connections: number
  readonly byType: Readonly<Record<string, Flow>>
  readonly total: Flow
  readonly peaks: Readonly<Record<string, PeakFlow>>
  /** Monthly cost of the whole workload on each option, itemised. */
  readonly costs: readonly OptionCost[]
  /** Which message classes go to which tier, with reasons and the `TIERBUS_ROUTES` string. */
  readonly routes: RoutePlan
  /** What the route table costs a month, each tier priced on the classes it carries. */
  readonly hybrid: HybridCost
}

const DAY = 86_400

/**
 * Turns a workload profile into msg/s, bytes/s, daily and monthly volume, peaks, the monthly cost of every
 * option (itemised, from `pricing`), and a recommended route table.
 */
export function planCapacity(profile: WorkloadProfile, pricing: Pricing = DEFAULT_PRICING): CapacityPlan {
  // Reported figures are rounded (msg/s to 0.001, bytes and volumes to whole numbers); sums use exact values.
  const r3 = (x: number) => Math.round(x * 1000) / 1000
  const month = DAY * profile.daysPerMonth
  const flow = (mps: number, bps: number): Flow => ({
    messagesPerSecond: r3(mps),
    bytesPerSecond: Math.round(bps),
    messagesPerDay: Math.round(mps * DAY),
    messagesPerMonth: Math.round(mps * month),
  })
  const highestFactor = Math.max(1, ...Object.values(profile.peakFactors))
  const byType: Record<string, Flow> = {}
  const classes: ClassLoad[] = []
  let mps = 0
  let bps = 0
  let persistent = 0
  let broadcast = 0
  for (const t of profile.messageTypes) {
    const m = t.ratePerAgentPerSecond * profile.agents
    byType[t.name] = flow(m, m * t.sizeBytes)
    const b = m * t.sizeBytes
    classes.push({
      name: t.name,
      subjects: t.subjects,
      kind: t.kind,
      persistent: t.persistent,
      latencyMs: t.latencyMs,
      peakPerSecond: m * highestFactor,
      messagesPerMonth: m * month,
      bytesPerSecond: b,
      peakBytesPerSecond: b * highestFactor,
    })
    mps += m
    bps += m * t.sizeBytes
    if (t.persistent) persistent += m
    if (t.kind === 'broadcast') broadcast += m
  }
  const total = flow(mps, bps)
  const peaks: Record<string, PeakFlow> = {}
  for (const [name, factor] of Object.entries(profile.peakFactors)) {
    peaks[name] = {
      factor,
      messagesPerSecond: r3(mps * factor),
      bytesPerSecond: Math.round(bps * factor),
      messagesPerDay: Math.round(mps * factor * DAY),
    }
  }
  const costs = priceOptions(
    {
      messagesPerMonth: mps * month,
      bytesPerMonth: bps * month,
      peakMessagesPerSecond: mps * highestFactor,
      peakBytesPerSecond: bps * highestFactor,
      connections: profile.connections,
      persistentMessagesPerMonth: persistent * month,
      broadcastMessagesPerMonth: broadcast * month,
    },
    pricing,
  )
  const routes = recommendRoutes(classes)
  const hybrid = priceRoutes(routes, classes, profile.connections, month, pricing)
  return {
    profile: profile.name,
    agents: profile.agents,
    connections: profile.connections,
    byType,
    total,
    peaks,
    costs,
    routes,
    hybrid,
  }
}
