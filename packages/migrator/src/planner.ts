import { DEFAULT_PRICING, monthlyCost, type Pricing } from './pricing.js'
import type { WorkloadProfile } from './profile.js'

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

/** Monthly cost of the workload on one tier, and whether the tier can carry its highest peak. */
export interface TierCost {
  readonly tier: string
  readonly monthlyUsd: number
  readonly fitsPeak: boolean
  readonly note: string
}

/** What `planCapacity` returns (plain JSON). */
export interface CapacityPlan {
  readonly profile: string
  readonly agents: number
  readonly byType: Readonly<Record<string, Flow>>
  readonly total: Flow
  readonly peaks: Readonly<Record<string, PeakFlow>>
  readonly costs: readonly TierCost[]
}

const DAY = 86_400

/** Turns a workload profile into msg/s, bytes/s, daily and monthly volume, peaks, and monthly cost per tier. */
export function planCapacity(profile: WorkloadProfile, pricing: Pricing = DEFAULT_PRICING): CapacityPlan {
  // Reported figures are rounded (msg/s to 0.001, bytes and volumes to whole numbers); sums use exact values.
  const r3 = (x: number) => Math.round(x * 1000) / 1000
  const flow = (mps: number, bps: number): Flow => ({
    messagesPerSecond: r3(mps),
    bytesPerSecond: Math.round(bps),
    messagesPerDay: Math.round(mps * DAY),
    messagesPerMonth: Math.round(mps * DAY * profile.daysPerMonth),
  })
  const byType: Record<string, Flow> = {}
  let mps = 0
  let bps = 0
  for (const t of profile.messageTypes) {
    const m = t.ratePerAgentPerSecond * profile.agents
    byType[t.name] = flow(m, m * t.sizeBytes)
    mps += m
    bps += m * t.sizeBytes
  }
  const total = flow(mps, bps)
  const peaks: Record<string, PeakFlow> = {}
  let highest = mps
  for (const [name, factor] of Object.entries(profile.peakFactors)) {
    peaks[name] = { factor, messagesPerSecond: r3(mps * factor), bytesPerSecond: Math.round(bps * factor), messagesPerDay: Math.round(mps * factor * DAY) }
    highest = Math.max(highest, mps * factor)
  }
  const costs = Object.entries(pricing.tiers).map(([tier, p]) => ({
    tier,
    monthlyUsd: Math.round(monthlyCost(p, total.messagesPerMonth) * 100) / 100,
    fitsPeak: p.maxEventsPerSecond === null || highest <= p.maxEventsPerSecond,
    note: p.source,
  }))
  return { profile: profile.name, agents: profile.agents, byType, total, peaks, costs }
}

const si = (n: number, unit: string) => {
  const [v, s] = n >= 1e9 ? [n / 1e9, 'B'] : n >= 1e6 ? [n / 1e6, 'M'] : n >= 1e3 ? [n / 1e3, 'K'] : [n, '']
  return `${v.toFixed(v >= 100 || s === '' ? 0 : v >= 10 ? 1 : 2)}${s}${unit}`
}
const bytes = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB/s` : `${(n / 1e3).toFixed(1)} KB/s`)

/** A plan as text tables, for the CLI. */
export function formatPlan(plan: CapacityPlan): string {
  const rows = Object.entries(plan.byType).map(([name, f]) => [name, f.messagesPerSecond.toFixed(0), bytes(f.bytesPerSecond), si(f.messagesPerDay, ''), si(f.messagesPerMonth, '')])
  rows.push(['TOTAL', plan.total.messagesPerSecond.toFixed(0), bytes(plan.total.bytesPerSecond), si(plan.total.messagesPerDay, ''), si(plan.total.messagesPerMonth, '')])
  const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...[['type', 'msg/s', 'data', 'per day', 'per month'], ...rows].map((r) => r[i]!.length)))
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  const out = [`capacity plan: ${plan.profile} (${plan.agents} agents)`, '', line(['type', 'msg/s', 'data', 'per day', 'per month']), ...rows.map(line), '', 'peaks:']
  for (const [name, p] of Object.entries(plan.peaks)) out.push(`  ${name} (${p.factor}x): ${p.messagesPerSecond.toFixed(0)} msg/s, ${bytes(p.bytesPerSecond)}, ${si(p.messagesPerDay, '')}/day`)
  out.push('', 'monthly cost per tier:')
  for (const c of plan.costs) out.push(`  ${c.tier.padEnd(14)} $${c.monthlyUsd.toLocaleString('en-US', { minimumFractionDigits: 2 })}${c.fitsPeak ? '' : '  (cannot carry the highest peak)'}`)
  return out.join('\n')
}
