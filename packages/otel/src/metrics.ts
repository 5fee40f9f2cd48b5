import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api'
import type { Envelope, HandleContext, PublishContext } from '@tierbus/core'
import { ATTR, destinationName, errorType, METRIC } from './attributes.js'

/** Histogram buckets (seconds) of the duration metrics, as semconv advises for messaging durations. */
export const DURATION_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
])

/** The semconv messaging metrics, recorded around every publish and handling. */
export class MessagingMetrics {
  private readonly sent: Counter
  private readonly operationDuration: Histogram
  private readonly consumed: Counter
  private readonly processDuration: Histogram
  private readonly settled: Counter

  constructor(meter: Meter) {
    const advice = { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] }
    this.sent = meter.createCounter(METRIC.sent, {
      unit: '{message}',
      description: 'Messages a producer attempted to publish.',
    })
    this.operationDuration = meter.createHistogram(METRIC.operationDuration, {
      unit: 's',
      description: 'Duration of publish calls to the tier.',
      advice,
    })
    this.consumed = meter.createCounter(METRIC.consumed, {
      unit: '{message}',
      description: 'Messages handed to a handler.',
    })
    this.processDuration = meter.createHistogram(METRIC.processDuration, {
      unit: 's',
      description: 'Duration of handler runs (middleware inside this one included).',
      advice,
    })
    this.settled = meter.createCounter(METRIC.settled, {
      unit: '{message}',
      description: 'Deliveries settled, by outcome (acked, retried, dead-lettered).',
    })
  }

  async publish(ctx: PublishContext, next: (envelopes: readonly Envelope[]) => Promise<void>): Promise<void> {
    const started = performance.now()
    let failure: string | undefined
    try {
      await next(ctx.envelopes)
    } catch (err) {
      failure = errorType(err)
      throw err
    } finally {
      const seconds = (performance.now() - started) / 1000
      const byType = new Map<string, number>()
      for (const e of ctx.envelopes) byType.set(e.type, (byType.get(e.type) ?? 0) + 1)
      for (const [type, n] of byType) {
        const attributes: Attributes = {
          [ATTR.system]: ctx.tier,
          [ATTR.destination]: destinationName(type),
          [ATTR.operationName]: 'publish',
        }
        if (failure !== undefined) attributes[ATTR.errorType] = failure
        this.sent.add(n, attributes)
        this.operationDuration.record(seconds, attributes)
      }
    }
  }

  async handle(ctx: HandleContext, next: () => Promise<unknown>): Promise<unknown> {
    const attributes: Attributes = {
      [ATTR.system]: ctx.tier,
      [ATTR.destination]: destinationName(ctx.event.type),
      [ATTR.consumerGroup]: ctx.group,
    }
    this.consumed.add(1, attributes)
    ctx.onSettled((outcome) => this.settled.add(1, { ...attributes, [ATTR.settleOutcome]: outcome }))
    const started = performance.now()
    try {
      return await next()
    } catch (err) {
      attributes[ATTR.errorType] = errorType(err)
      throw err
    } finally {
      this.processDuration.record((performance.now() - started) / 1000, {
        ...attributes,
        [ATTR.operationName]: 'process',
      })
    }
  }
}
