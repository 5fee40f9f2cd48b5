import { ConfigError } from '@tierbus/core'
import type { BrokerSize, Fleet, Pricing } from './pricing.js'
import type { RouteTier } from './tier-traits.js'

/** What a workload asks of a deployment, per month and at its highest peak. */
export interface PricedLoad {
  readonly messagesPerMonth: number
  readonly bytesPerMonth: number
  readonly peakMessagesPerSecond: number
  readonly peakBytesPerSecond: number
  /** Broker connections the workload holds. */
  readonly connections: number
  /** Messages of persistent classes: what an SQS-backed option queues. */
  readonly persistentMessagesPerMonth: number
  /** Messages of fan-out (broadcast) classes: what an SNS-backed option publishes to topics. */
  readonly broadcastMessagesPerMonth: number
}

/** One line of an option's monthly bill. */
export interface CostItem {
  readonly name: string
  readonly monthlyUsd: number
  /** How it was computed. */
  readonly basis: string
}

/** The monthly cost of running the whole workload on one option. */
export interface OptionCost {
  readonly option: string
  /** The `TIERBUS_TRANSPORT` value for this option; null where tierbus has no tier (EventBridge, MSK). */
  readonly transport: RouteTier | null
  readonly monthlyUsd: number
  readonly items: readonly CostItem[]
  /** Whether the option carries the workload's highest peak (and, for brokers, its connections). */
  readonly fitsPeak: boolean
  readonly note: string
}

const cents = (n: number) => Math.round(n * 100) / 100
const GB = 1e9
const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
const millions = (n: number) => `${(n / 1e6).toLocaleString('en-US', { maximumFractionDigits: 1 })}M`

function option(
  option: string,
  transport: RouteTier | null,
  items: CostItem[],
  fitsPeak: boolean,
  note: string,
): OptionCost {
  const rounded = items.map((i) => ({ ...i, monthlyUsd: cents(i.monthlyUsd) }))
  return {
    option,
    transport,
    monthlyUsd: cents(rounded.reduce((n, i) => n + i.monthlyUsd, 0)),
    items: rounded,
    fitsPeak,
    note,
  }
}

const perMillion = (name: string, count: number, usd: number, what: string): CostItem => ({
  name,
  monthlyUsd: (count / 1e6) * usd,
  basis: `${millions(count)} ${what} × $${usd}/M`,
})

const transfer = (load: PricedLoad, perGb: number): CostItem => ({
  name: 'data transfer',
  monthlyUsd: (load.bytesPerMonth / GB) * perGb,
  basis: `${fmt(load.bytesPerMonth / GB)} GB × $${perGb}/GB`,
})

function fleetItems(f: Fleet): [CostItem, ...CostItem[]] {
  const items: [CostItem, ...CostItem[]] = [
    {
      name: 'instances',
      monthlyUsd: f.nodes * f.nodeMonthly.value,
      basis: `${f.nodes} × ${f.instance} × $${f.nodeMonthly.value}`,
    },
  ]
  const gb = f.nodes * f.storageGbPerNode
  if (gb > 0)
    items.push({
      name: 'storage',
      monthlyUsd: gb * f.storagePerGbMonth.value,
      basis: `${fmt(gb)} GB × $${f.storagePerGbMonth.value}/GB-month`,
    })
  return items
}

const carries = (max: { value: number } | null, peak: number) => max === null || peak <= max.value

/** The smallest broker whose throughput carries the peak and whose connection limit carries the workload's. */
export function chooseBroker(
  brokers: readonly BrokerSize[],
  peakPerSecond: number,
  connections: number,
): { broker: BrokerSize; fits: boolean } {
  const largest = brokers.at(-1)
  if (!largest) throw new ConfigError('pricing.amazonMq.brokers is empty: list the broker sizes, smallest first')
  const broker = brokers.find((b) => b.maxMessagesPerSecond >= peakPerSecond && b.maxConnections >= connections)
  return broker ? { broker, fits: true } : { broker: largest, fits: false }
}

function amazonMq(load: PricedLoad, p: Pricing): OptionCost {
  const { broker, fits } = chooseBroker(p.amazonMq.brokers, load.peakMessagesPerSecond, load.connections)
  const smaller = p.amazonMq.brokers.slice(0, p.amazonMq.brokers.indexOf(broker)).map((b) => {
    const short =
      b.maxMessagesPerSecond < load.peakMessagesPerSecond
        ? `${fmt(b.maxMessagesPerSecond)} msg/s`
        : `${fmt(b.maxConnections)} connections`
    return `${b.instance} tops out at ${short}`
  })
  return option(
    'amazon-mq',
    'amqp',
    [
      { name: 'broker', monthlyUsd: broker.monthlyUsd, basis: `${broker.instance} ${broker.deployment}` },
      {
        name: 'storage',
        monthlyUsd: broker.storageGb * p.amazonMq.storagePerGbMonth.value,
        basis: `${fmt(broker.storageGb)} GB × $${p.amazonMq.storagePerGbMonth.value}/GB-month`,
      },
      transfer(load, p.amazonMq.transferPerGb.value),
    ],
    fits,
    `${broker.instance} for ${fmt(load.peakMessagesPerSecond)} msg/s and ${fmt(load.connections)} connections${smaller.length ? ` (${smaller.join('; ')})` : ''}${fits ? '' : ': no broker in the sizing table is big enough'}`,
  )
}

function eventBridgeSqsSns(load: PricedLoad, p: Pricing): OptionCost {
  const sqsRequests = load.persistentMessagesPerMonth * p.sqs.requestsPerMessage.value
  return option(
    'eventbridge-sqs-sns',
    null,
    [
      perMillion('eventbridge', load.messagesPerMonth, p.eventBridge.perMillionEvents.value, 'events'),
      perMillion('sqs', sqsRequests, p.sqs.perMillionRequests.value, 'requests (persistent classes)'),
      perMillion('sns', load.broadcastMessagesPerMonth, p.sns.perMillionPublishes.value, 'publishes (fan-out classes)'),
      transfer(load, p.eventBridge.transferPerGb.value),
    ],
    carries(p.eventBridge.maxEventsPerSecond, load.peakMessagesPerSecond),
    'every event through EventBridge; persistent classes queued in SQS, fan-out classes published to SNS; no tierbus tier for EventBridge (docs/tiers/eventbridge-msk.md)',
  )
}

function msk(load: PricedLoad, p: Pricing): OptionCost {
  const fits =
    carries(p.msk.maxEventsPerSecond, load.peakMessagesPerSecond) &&
    carries(p.msk.maxBytesPerSecond, load.peakBytesPerSecond)
  const [instances, ...storage] = fleetItems(p.msk)
  return option(
    'msk',
    null,
    [{ ...instances, name: 'cluster' }, ...storage, transfer(load, p.msk.transferPerGb.value)],
    fits,
    'no tierbus tier for Kafka: the route planner maps MSK classes to nats (docs/tiers/eventbridge-msk.md)',
  )
}

function fleet(name: string, transport: RouteTier, f: Fleet, load: PricedLoad, note: string): OptionCost {
  return option(name, transport, fleetItems(f), carries(f.maxEventsPerSecond, load.peakMessagesPerSecond), note)
}

/** Prices the workload on every option: the three AWS options of the MisterSmith plan, then the tierbus tiers. */
export function priceOptions(load: PricedLoad, p: Pricing): OptionCost[] {
  return [
    amazonMq(load, p),
    eventBridgeSqsSns(load, p),
    msk(load, p),
    option(
      'sqs-sns',
      'sqs',
      [
        perMillion(
          'sqs',
          load.messagesPerMonth * p.sqs.requestsPerMessage.value,
          p.sqs.perMillionRequests.value,
          'requests',
        ),
      ],
      true,
      p.sqs.requestsPerMessage.source,
    ),
    option(
      'upstash',
      'upstash',
      [
        perMillion(
          'commands',
          load.messagesPerMonth * p.upstash.commandsPerEvent.value,
          p.upstash.perMillionCommands.value,
          'commands',
        ),
      ],
      carries(p.upstash.maxEventsPerSecond, load.peakMessagesPerSecond),
      p.upstash.perMillionCommands.source,
    ),
    fleet('elasticache-redis', 'redis', p.elastiCache, load, p.elastiCache.nodeMonthly.source),
    fleet('nats-self-hosted', 'nats', p.nats, load, p.nats.nodeMonthly.source),
    fleet('postgres-self-hosted', 'postgres', p.postgres, load, p.postgres.nodeMonthly.source),
    option(
      'supabase',
      'supabase',
      [{ name: 'plan', monthlyUsd: p.supabase.planMonthly.value, basis: 'Pro plan' }],
      carries(p.supabase.maxEventsPerSecond, load.peakMessagesPerSecond),
      p.supabase.planMonthly.source,
    ),
  ]
}
