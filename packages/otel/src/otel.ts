import { type MeterProvider, metrics, type TracerProvider, trace } from '@opentelemetry/api'
import { type Bus, ConfigError, type Middleware } from '@tierbus/core'
import { ATTR, INSTRUMENTATION_SCOPE, METRIC } from './attributes.js'
import { MessagingMetrics } from './metrics.js'
import { MessagingTracer } from './tracing.js'

/** Options of `otel()` and `instrumentBus()`. */
export interface OtelOptions {
  /** Where spans go (default: the global provider, `trace.getTracerProvider()`). */
  tracerProvider?: TracerProvider
  /** Where metrics go (default: the global provider, `metrics.getMeterProvider()`). */
  meterProvider?: MeterProvider
  /** Record spans (default true). */
  traces?: boolean
  /** Record metrics (default true). */
  metrics?: boolean
}

/** Defaults of `OtelOptions`. */
export const OTEL_DEFAULTS = Object.freeze({ traces: true, metrics: true })

/**
 * Middleware that records OpenTelemetry spans (messaging semantic conventions) and metrics around every
 * publish and handling, and carries the trace context in each envelope's `traceparent` / `tracestate`:
 * `bus.use(otel())`. Register it first, so it is outermost and its spans cover the other middleware.
 */
export function otel(options: OtelOptions = {}): Middleware {
  const tracing = options.traces ?? OTEL_DEFAULTS.traces
  const measuring = options.metrics ?? OTEL_DEFAULTS.metrics
  if (typeof tracing !== 'boolean' || typeof measuring !== 'boolean')
    throw new ConfigError('otel({ traces, metrics }): both are booleans')
  const tracer = tracing
    ? new MessagingTracer((options.tracerProvider ?? trace.getTracerProvider()).getTracer(INSTRUMENTATION_SCOPE))
    : undefined
  const meter = measuring
    ? new MessagingMetrics((options.meterProvider ?? metrics.getMeterProvider()).getMeter(INSTRUMENTATION_SCOPE))
    : undefined
  return {
    name: 'otel',
    publish(ctx, next) {
      if (tracer && meter) return tracer.publish(ctx, (envelopes) => meter.publish({ tier: ctx.tier, envelopes }, next))
      if (tracer) return tracer.publish(ctx, next)
      return meter ? meter.publish(ctx, next) : next(ctx.envelopes)
    },
    handle(ctx, next) {
      if (tracer && meter) return tracer.handle(ctx, () => meter.handle(ctx, next))
      if (tracer) return tracer.handle(ctx, next)
      return meter ? meter.handle(ctx, next) : next()
    },
  }
}

/** What `instrumentBus` set up; `stop()` removes the lag gauge's callback. */
export interface BusInstrumentation {
  stop(): void
}

/**
 * `bus.use(otel(options))` plus an observable gauge `tierbus.consumer.group.lag` per consumer group, read
 * from `bus.metrics()` at each collection (the backlog this process published and its groups have not settled).
 */
export function instrumentBus(bus: Bus, options: OtelOptions = {}): BusInstrumentation {
  bus.use(otel(options))
  if (options.metrics === false) return { stop() {} }
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(INSTRUMENTATION_SCOPE)
  const lag = meter.createObservableGauge(METRIC.lag, {
    unit: '{message}',
    description: 'Events published by this process that a consumer group here has not settled yet.',
  })
  const observe = (result: { observe(value: number, attributes: Record<string, string>): void }) => {
    const snapshot = bus.metrics()
    for (const [group, g] of Object.entries(snapshot.byGroup))
      result.observe(g.lag, { [ATTR.system]: bus.transport.name, [ATTR.consumerGroup]: group })
  }
  lag.addCallback(observe)
  return { stop: () => lag.removeCallback(observe) }
}
