import { context, SpanKind, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { ConfigError, createBus, defineEvent, type Envelope, memoryTransport, outgoing } from '@tierbus/core'
import { eventually, gate } from '@tierbus/core/testing'
import { ATTR, instrumentBus, METRIC, otel, spanContextOf } from '@tierbus/otel'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'

const spans = new InMemorySpanExporter()
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })
const tracer = tracerProvider.getTracer('otel-test')

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
})
afterAll(async () => {
  context.disable()
  await tracerProvider.shutdown()
})

const Created = defineEvent('otel.unit.created', z.object({ n: z.number() }))
const Deleted = defineEvent('otel.unit.deleted', z.object({ n: z.number() }))
const envelope = (extra: Partial<Envelope>): Envelope => ({
  specversion: '1.0',
  id: 'x',
  source: 's',
  type: 'a.b',
  time: new Date().toISOString(),
  data: {},
  ...extra,
})

describe('trace context in envelopes', () => {
  it('reads W3C traceparent and tracestate, and ignores values that are not W3C Trace Context', () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const sc = spanContextOf(envelope({ traceparent, tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7' }))
    expect(sc).toMatchObject({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: 1,
      isRemote: true,
    })
    expect(sc?.traceState?.get('congo')).toBe('t61rcWkgMzE')
    expect(spanContextOf(envelope({ traceparent, tracestate: `a=${'x'.repeat(600)}` }))?.traceState).toBeUndefined()
    for (const bad of [
      'junk',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      `${traceparent}-extra`,
      42,
    ]) {
      expect(spanContextOf(envelope({ traceparent: bad as string }))).toBeUndefined()
    }
  })

  it('joins a caller-supplied traceparent and tracestate when no span is active', async () => {
    const bus = createBus({ transport: memoryTransport(), source: 'otel-test' }).use(
      otel({ tracerProvider, metrics: false }),
    )
    try {
      const joined = await bus.publish(
        Created,
        { n: 1 },
        { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'rojo=00f067aa0ba902b7' },
      )
      expect(joined.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/)
      expect(joined.traceparent).not.toContain('00f067aa0ba902b7')
      expect(joined.tracestate).toBe('rojo=00f067aa0ba902b7')
      await expect(bus.publish(Created, { n: 2 }, { traceparent: 'not-a-traceparent' })).rejects.toThrow(ConfigError)
      await expect(bus.publish(Created, { n: 2 }, { tracestate: 'a=b' })).rejects.toThrow(/sent with a traceparent/)
    } finally {
      await bus.close()
    }
  })

  it('starts a new trace for an event whose traceparent is not W3C Trace Context (a forged message)', async () => {
    const transport = memoryTransport()
    const bus = createBus({ transport, source: 'otel-test' }).use(otel({ tracerProvider, metrics: false }))
    try {
      const done = gate()
      await bus.subscribe(Created, () => done.open(), { group: 'forged' })
      await transport.publish([
        envelope({ id: 'forged-1', type: Created.type, data: { n: 1 }, traceparent: '00-zz-forged', tracestate: 'x' }),
      ])
      await done.promise
      await eventually(
        () => spans.getFinishedSpans().some((s) => s.attributes[ATTR.messageId] === 'forged-1'),
        'the process span',
      )
      const process = spans.getFinishedSpans().find((s) => s.attributes[ATTR.messageId] === 'forged-1')
      expect(process?.parentSpanContext).toBeUndefined()
      expect(process?.links).toEqual([])
    } finally {
      await bus.close()
    }
  })
})

describe('batches', () => {
  it('gives each event of a batch its own create span, linked from one publish span with the batch count', async () => {
    const bus = createBus({ transport: memoryTransport(), source: 'otel-test' }).use(
      otel({ tracerProvider, metrics: false }),
    )
    try {
      const root = tracer.startSpan('job')
      const sent = await context.with(trace.setSpan(context.active(), root), () =>
        bus.publishBatch([outgoing(Created, { n: 1 }), outgoing(Created, { n: 2 }), outgoing(Deleted, { n: 3 })]),
      )
      root.end()
      const mine = spans.getFinishedSpans().filter((s) => s.spanContext().traceId === root.spanContext().traceId)
      const publish = mine.find((s) => s.name === 'publish batch')
      expect(publish?.kind).toBe(SpanKind.PRODUCER)
      expect(publish?.attributes[ATTR.batchCount]).toBe(3)
      expect(publish?.attributes[ATTR.destination]).toBeUndefined()
      const creates = mine.filter((s) => s.attributes[ATTR.operationType] === 'create')
      expect(creates.map((s) => s.name)).toEqual([
        'create otel.unit.created',
        'create otel.unit.created',
        'create otel.unit.deleted',
      ])
      expect(publish?.links.map((l) => l.context.spanId)).toEqual(creates.map((s) => s.spanContext().spanId))
      expect(sent.map((e) => spanContextOf(e)?.spanId)).toEqual(creates.map((s) => s.spanContext().spanId))
    } finally {
      await bus.close()
    }
  })
})

describe('metrics through the OTel metrics API', () => {
  it('counts sent and consumed messages and settle outcomes, records durations, and observes group lag', async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 })
    const meterProvider = new MeterProvider({ readers: [reader] })
    const bus = createBus({
      transport: memoryTransport(),
      source: 'otel-test',
      retry: { attempts: 2, backoff: { baseMs: 1, maxMs: 2 } },
      onError: () => {},
    })
    const instrumentation = instrumentBus(bus, { meterProvider, traces: false })
    const release = gate()
    try {
      await bus.subscribe(
        Created,
        async (e) => {
          if (e.data.n === 3) throw new TypeError('bad n')
          if (e.data.n === 4) await release.promise
        },
        { group: 'counting' },
      )
      await bus.publishBatch(Created, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }])
      await eventually(
        () =>
          bus.metrics().byType['otel.unit.created']?.deadLettered === 1 &&
          bus.metrics().byType['otel.unit.created']?.acked === 2,
        'three settled',
      )
      await reader.forceFlush()
      const metrics = new Map(
        exporter
          .getMetrics()
          .flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics))
          .map((m) => [m.descriptor.name, m.dataPoints as DataPoint<unknown>[]]),
      )
      const sum = (name: string, match: Record<string, unknown> = {}) =>
        (metrics.get(name) ?? [])
          .filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))
          .reduce((n, p) => n + (p.value as number), 0)
      expect(sum(METRIC.sent, { [ATTR.destination]: 'otel.unit.created', [ATTR.system]: 'memory' })).toBe(4)
      expect(sum(METRIC.consumed, { [ATTR.consumerGroup]: 'counting' })).toBe(5) // 4 events, one retried once
      expect(sum(METRIC.settled, { [ATTR.settleOutcome]: 'acked' })).toBe(2)
      expect(sum(METRIC.settled, { [ATTR.settleOutcome]: 'retried' })).toBe(1)
      expect(sum(METRIC.settled, { [ATTR.settleOutcome]: 'dead-lettered', [ATTR.errorType]: 'TypeError' })).toBe(1)
      const process = (metrics.get(METRIC.processDuration) ?? []) as DataPoint<Histogram>[]
      expect(process.reduce((n, p) => n + p.value.count, 0)).toBe(4) // the gated run has not finished
      expect(process.find((p) => p.attributes[ATTR.errorType] === 'TypeError')?.value.count).toBe(2)
      // The fourth event is still running: the group has one unsettled event.
      expect(sum(METRIC.lag, { [ATTR.consumerGroup]: 'counting' })).toBe(1)
    } finally {
      release.open()
      instrumentation.stop()
      await bus.close()
      await meterProvider.shutdown()
    }
  })
})
