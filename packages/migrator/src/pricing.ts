/** A number with where it comes from, so a team can check it and tune it. */
export interface Figure {
  readonly value: number
  readonly source: string
}

/** One Amazon MQ broker size from the sizing table: what it carries and what it costs a month. */
export interface BrokerSize {
  readonly instance: string
  readonly deployment: 'SINGLE_INSTANCE' | 'ACTIVE_STANDBY_MULTI_AZ'
  readonly maxMessagesPerSecond: number
  readonly maxConnections: number
  readonly storageGb: number
  readonly monthlyUsd: number
  readonly source: string
}

/** A fleet of instances you run yourself (or a managed cluster priced per node). */
export interface Fleet {
  readonly instance: string
  readonly nodes: number
  /** USD per node per month (730 hours). */
  readonly nodeMonthly: Figure
  /** EBS (or equivalent) GB per node. */
  readonly storageGbPerNode: number
  readonly storagePerGbMonth: Figure
  /** Highest sustained events/s the fleet is meant for; null when not the limit at these sizes. */
  readonly maxEventsPerSecond: Figure | null
}

/** The pricing table: every price and sizing assumption the planner uses, each with its source. */
export interface Pricing {
  readonly currency: 'USD'
  readonly amazonMq: {
    /** Smallest first; the planner takes the first that carries the peak and the connections. */
    readonly brokers: readonly BrokerSize[]
    readonly storagePerGbMonth: Figure
    readonly transferPerGb: Figure
  }
  readonly eventBridge: {
    readonly perMillionEvents: Figure
    readonly maxEventsPerSecond: Figure
    readonly transferPerGb: Figure
  }
  readonly sqs: { readonly perMillionRequests: Figure; readonly requestsPerMessage: Figure }
  readonly sns: { readonly perMillionPublishes: Figure }
  readonly msk: Fleet & { readonly maxBytesPerSecond: Figure; readonly transferPerGb: Figure }
  readonly upstash: {
    readonly perMillionCommands: Figure
    readonly commandsPerEvent: Figure
    readonly maxEventsPerSecond: Figure
  }
  readonly elastiCache: Fleet
  readonly nats: Fleet
  readonly postgres: Fleet
  readonly supabase: { readonly planMonthly: Figure; readonly maxEventsPerSecond: Figure }
}

const HOURS_PER_MONTH = 730
const AWS = 'AWS on-demand list price, us-east-1'
const perMonth = (perHour: number) => Math.round(perHour * HOURS_PER_MONTH * 100) / 100
// The capacity plan gives data transfer as flat sums for its 24,192 GB/month (9.33 MB/s); these rates
// reproduce them and scale with a workload's bytes. AWS bills $0.01/GB each way across AZs and more
// out of the region: set the rate to the share of your bytes that crosses those lines.
const CALIBRATED = (usd: number) =>
  `calibrated: the MisterSmith capacity plan's $${usd}/month data transfer for 24,192 GB/month; tune to your share of cross-AZ/egress bytes`

/**
 * The default prices: the MisterSmith capacity plan (Amazon MQ sizing table, EventBridge, MSK),
 * SignalsLoop's queue evaluation (SQS, Upstash, Supabase), and AWS list prices for the instances
 * self-hosted tiers run on. Edit here when prices change; every figure says where it comes from.
 */
export const DEFAULT_PRICING: Pricing = Object.freeze({
  currency: 'USD',
  amazonMq: {
    brokers: [
      {
        instance: 'mq.t3.micro',
        deployment: 'SINGLE_INSTANCE',
        maxMessagesPerSecond: 1_000,
        maxConnections: 100,
        storageGb: 20,
        monthlyUsd: 13.5,
        source: 'MisterSmith capacity plan: Amazon MQ sizing table (development)',
      },
      {
        instance: 'mq.m5.large',
        deployment: 'ACTIVE_STANDBY_MULTI_AZ',
        maxMessagesPerSecond: 10_000,
        maxConnections: 1_000,
        storageGb: 200,
        monthlyUsd: 540,
        source: 'MisterSmith capacity plan: Amazon MQ sizing table (staging)',
      },
      {
        instance: 'mq.m5.2xlarge',
        deployment: 'ACTIVE_STANDBY_MULTI_AZ',
        maxMessagesPerSecond: 50_000,
        maxConnections: 10_000,
        storageGb: 1_000,
        monthlyUsd: 2_160,
        source: 'MisterSmith capacity plan: Amazon MQ sizing table (production)',
      },
    ],
    storagePerGbMonth: {
      value: 0.1,
      source: `${AWS}: EBS gp2 $0.10/GB-month (the plan's $100 for the production broker's 1,000 GB)`,
    },
    transferPerGb: { value: 0.00413, source: CALIBRATED(100) },
  },
  eventBridge: {
    perMillionEvents: {
      value: 1,
      source: 'MisterSmith capacity plan and AWS list price: $1.00 per million custom events',
    },
    maxEventsPerSecond: {
      value: 10_000,
      source: 'MisterSmith capacity plan: EventBridge 10,000 events/s (the PutEvents quota)',
    },
    transferPerGb: { value: 0.0062, source: CALIBRATED(150) },
  },
  sqs: {
    perMillionRequests: {
      value: 0.4,
      source: "SignalsLoop's queue evaluation and AWS list price: SQS $0.40 per million requests",
    },
    requestsPerMessage: {
      value: 1,
      source:
        "SignalsLoop's queue evaluation: $12/month at 1M events/day, i.e. one billed request per event (batched receive/delete)",
    },
  },
  sns: {
    perMillionPublishes: { value: 0.5, source: `${AWS}: SNS $0.50 per million publishes; deliveries to SQS are free` },
  },
  msk: {
    instance: 'kafka.m5.large',
    nodes: 3,
    nodeMonthly: {
      value: 400,
      source: `MisterSmith capacity plan: $1,200/month for 3 × kafka.m5.large (${AWS} is $0.21/h = $153.30 per broker)`,
    },
    storageGbPerNode: 1_000,
    storagePerGbMonth: { value: 0.1, source: `${AWS}: MSK storage $0.10/GB-month (the plan's $300 for 3 × 1,000 GB)` },
    maxEventsPerSecond: { value: 1_000_000, source: 'MisterSmith capacity plan: MSK 1,000,000 msg/s' },
    maxBytesPerSecond: { value: 1e9, source: 'MisterSmith capacity plan: MSK cluster 1 GB/s' },
    transferPerGb: { value: 0.00827, source: CALIBRATED(200) },
  },
  upstash: {
    perMillionCommands: {
      value: 2,
      source:
        "SignalsLoop's queue evaluation: Upstash $20/month at 10M events/month (pay-as-you-go $0.20 per 100K commands)",
    },
    commandsPerEvent: { value: 1, source: "SignalsLoop's queue evaluation prices one command per event" },
    maxEventsPerSecond: { value: 10_000, source: "SignalsLoop's queue evaluation: Redis Streams ~10,000 events/s" },
  },
  elastiCache: {
    instance: 'cache.m5.large',
    nodes: 2,
    nodeMonthly: { value: perMonth(0.156), source: `${AWS}: cache.m5.large $0.156/h; primary + replica` },
    storageGbPerNode: 0,
    storagePerGbMonth: { value: 0, source: 'in memory: no separate storage charge' },
    maxEventsPerSecond: { value: 10_000, source: "SignalsLoop's queue evaluation: Redis Streams ~10,000 events/s" },
  },
  nats: {
    instance: 'EC2 m5.large',
    nodes: 3,
    nodeMonthly: {
      value: perMonth(0.096),
      source: `${AWS}: m5.large $0.096/h; a 3-node JetStream cluster (R3 streams)`,
    },
    storageGbPerNode: 100,
    storagePerGbMonth: { value: 0.08, source: `${AWS}: EBS gp3 $0.08/GB-month, 100 GB per node for streams` },
    maxEventsPerSecond: null,
  },
  postgres: {
    instance: 'EC2 m5.large',
    nodes: 2,
    nodeMonthly: {
      value: perMonth(0.096),
      source: `${AWS}: m5.large $0.096/h; primary + streaming-replication standby`,
    },
    storageGbPerNode: 100,
    storagePerGbMonth: { value: 0.08, source: `${AWS}: EBS gp3 $0.08/GB-month, 100 GB per node` },
    maxEventsPerSecond: { value: 100, source: "SignalsLoop's queue evaluation: database events ~100 events/s" },
  },
  supabase: {
    planMonthly: {
      value: 25,
      source: "Supabase Pro plan list price; Realtime included (SignalsLoop's queue evaluation)",
    },
    maxEventsPerSecond: {
      value: 100,
      source: "SignalsLoop's queue evaluation: Realtime ~100 events/s, ~1,000 connections",
    },
  },
} satisfies Pricing)
