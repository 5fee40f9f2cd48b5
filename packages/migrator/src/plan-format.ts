import type { CapacityPlan } from './planner.js'

const si = (n: number, unit: string) => {
  const [v, s] = n >= 1e9 ? [n / 1e9, 'B'] : n >= 1e6 ? [n / 1e6, 'M'] : n >= 1e3 ? [n / 1e3, 'K'] : [n, '']
  return `${v.toFixed(v >= 100 || s === '' ? 0 : v >= 10 ? 1 : 2)}${s}${unit}`
}
const usd = (n: number) => `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`
const bytes = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB/s` : `${(n / 1e3).toFixed(1)} KB/s`)

/** A plan as text tables, for the CLI: flows, peaks, cost per option, and the route table. */
export function formatPlan(plan: CapacityPlan): string {
  const rows = Object.entries(plan.byType).map(([name, f]) => [
    name,
    f.messagesPerSecond.toFixed(0),
    bytes(f.bytesPerSecond),
    si(f.messagesPerDay, ''),
    si(f.messagesPerMonth, ''),
  ])
  rows.push([
    'TOTAL',
    plan.total.messagesPerSecond.toFixed(0),
    bytes(plan.total.bytesPerSecond),
    si(plan.total.messagesPerDay, ''),
    si(plan.total.messagesPerMonth, ''),
  ])
  const widths = [0, 1, 2, 3, 4].map((i) =>
    Math.max(...[['type', 'msg/s', 'data', 'per day', 'per month'], ...rows].map((r) => (r[i] ?? '').length)),
  )
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')
  const out = [
    `capacity plan: ${plan.profile} (${plan.agents} agents)`,
    '',
    line(['type', 'msg/s', 'data', 'per day', 'per month']),
    ...rows.map(line),
    '',
    'peaks:',
  ]
  for (const [name, p] of Object.entries(plan.peaks))
    out.push(
      `  ${name} (${p.factor}x): ${p.messagesPerSecond.toFixed(0)} msg/s, ${bytes(p.bytesPerSecond)}, ${si(p.messagesPerDay, '')}/day`,
    )
  out.push('', `monthly cost per option (${plan.connections.toLocaleString('en-US')} connections):`)
  for (const c of plan.costs) {
    const items = c.items.map((i) => `${i.name} ${usd(i.monthlyUsd)}`).join(' + ')
    out.push(
      `  ${c.option.padEnd(21)} ${usd(c.monthlyUsd).padStart(10)}  ${c.transport ? `[${c.transport}]` : '[no tier]'} ${items}${c.fitsPeak ? '' : '  (cannot carry the highest peak)'}`,
    )
  }
  out.push('', 'recommended routes (first match wins):')
  for (const r of plan.routes.routes) out.push(`  ${r.match.padEnd(16)} -> ${r.transport.padEnd(5)} ${r.reason}`)
  const shares = Object.entries(plan.routes.shares).map(([t, s]) => `${t} ${Math.round(s * 100)} %`)
  out.push(`  share of messages: ${shares.join(', ')}`)
  const tiers = plan.hybrid.tiers.map(
    (t) => `${t.transport} ${usd(t.cost.monthlyUsd)} (${t.cost.option}: ${t.classes.join(', ')})`,
  )
  out.push(
    `  monthly cost: ${tiers.join(' + ')} = ${usd(plan.hybrid.monthlyUsd)}`,
    '',
    `TIERBUS_ROUTES='${plan.routes.env}'`,
  )
  return out.join('\n')
}
