/** A `TIERBUS_TRANSPORT` value a route can name (`amqp` included: the RabbitMQ / Amazon MQ tier). */
export type RouteTier = 'memory' | 'postgres' | 'pglite' | 'supabase' | 'redis' | 'upstash' | 'sqs' | 'nats' | 'amqp'

/** What the route planner needs to know about a tier. */
export interface TierTraits {
  /** Typical end-to-end latency, ms: [best, worst]. A class needing less than `worst` does not fit. */
  readonly latencyMs: readonly [number, number]
  /** Highest sustained events/s; null when not the limit for the workloads the planner sees. */
  readonly maxEventsPerSecond: number | null
  /** Keeps events across a broker or app restart. */
  readonly persistent: boolean
  /** What the tier is in the AWS picture. */
  readonly service: string
  readonly source: string
}

/** The tiers the route planner chooses from, with the figures behind each choice. */
export const ROUTE_TIER_TRAITS = Object.freeze({
  amqp: {
    latencyMs: [10, 50],
    maxEventsPerSecond: 50_000,
    persistent: true,
    service: 'Amazon MQ for RabbitMQ',
    source: 'MisterSmith capacity plan: Amazon MQ 10-50 ms, up to 50,000 msg/s (mq.m5.2xlarge)',
  },
  sqs: {
    latencyMs: [100, 500],
    maxEventsPerSecond: null,
    persistent: true,
    service: 'SQS/SNS (the queues of the EventBridge + SQS option)',
    source:
      "MisterSmith capacity plan and SignalsLoop's queue evaluation: SQS 100-500 ms, no practical throughput limit",
  },
  nats: {
    latencyMs: [1, 10],
    maxEventsPerSecond: 1_000_000,
    persistent: true,
    service: 'NATS JetStream',
    source:
      "MisterSmith capacity plan: MSK 1-10 ms, 1,000,000 msg/s; JetStream is a replicated log with replay like Kafka's",
  },
  redis: {
    latencyMs: [10, 50],
    maxEventsPerSecond: 10_000,
    persistent: true,
    service: 'Redis Streams (ElastiCache or Upstash)',
    source: "SignalsLoop's queue evaluation: Redis Streams 10-50 ms, ~10,000 events/s",
  },
} satisfies Partial<Record<RouteTier, TierTraits>>)

/** A tier the route planner can choose. */
export type PlannedTier = keyof typeof ROUTE_TIER_TRAITS

/** How urgently and how much a class moves, which decides the order tiers are tried in. */
export type RouteNeed = 'realtime' | 'async' | 'stream'

/**
 * The tiers tried for each need, best first; the first that meets the class's latency, peak and
 * durability wins. The order is the MisterSmith hybrid: real-time coordination on Amazon MQ, async work
 * on EventBridge + SQS, high-throughput metrics on MSK (here NATS JetStream).
 */
export const ROUTE_PREFERENCES: Readonly<Record<RouteNeed, readonly PlannedTier[]>> = Object.freeze({
  realtime: ['amqp', 'nats', 'redis'],
  async: ['sqs', 'amqp', 'nats', 'redis'],
  stream: ['nats', 'redis', 'amqp', 'sqs'],
})
