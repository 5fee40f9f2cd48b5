import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { type Bus, createBus, defineEvent } from '@tierbus/core'
import { eventually, uniqueToken } from '@tierbus/core/testing'
import { ATTR, otel } from '@tierbus/otel'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { EVERY_TIER, tierKit } from '../../../test/every-tier.js'

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const tracer = provider.getTracer('otel-test')
const contextManager = new AsyncLocalStorageContextManager()
const kit = tierKit()
const buses: Bus[] = []

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable())
})
afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.close()))
})
afterAll(async () => {
  await kit.close()
  context.disable()
  await provider.shutdown()
})

/** The finished spans of one trace. */
const spansOf = (traceId: string): ReadableSpan[] =>
  exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId)
const named = (spans: readonly ReadableSpan[], name: string): ReadableSpan[] => spans.filter((s) => s.name === name)
const one = (spans: readonly ReadableSpan[], name: string): ReadableSpan => {
  const found = named(spans, name)
  expect(found, `one span named '${name}' in ${spans.map((s) => s.name).join(', ')}`).toHaveLength(1)
  return found[0] as ReadableSpan
}

/** Runs `work` inside a fresh root span (as a route handler's server span would be); returns that span's trace id. */
async function inRootSpan<T>(work: () => Promise<T>): Promise<{ traceId: string; rootSpanId: string; result: T }> {
  const root = tracer.startSpan('POST /api/feedback', { kind: SpanKind.SERVER })
  try {
    const result = await context.with(trace.setSpan(context.active(), root), work)
    return { traceId: root.spanContext().traceId, rootSpanId: root.spanContext().spanId, result }
  } finally {
    root.end()
  }
}

async function busOn(tier: (typeof EVERY_TIER)[number]): Promise<Bus> {
  const bus = createBus({
    transport: await kit.transport(tier),
    source: 'otel-test',
    retry: { attempts: 2, backoff: { baseMs: 10, maxMs: 20 } },
    leaseMs: 5_000,
    onError: () => {},
  })
  buses.push(bus.use(otel({ tracerProvider: provider, metrics: false })))
  return bus
}

describe.each(EVERY_TIER)('traces on the %s tier', (tier) => {
  beforeAll(() => kit.prepare(tier), 60_000)

  it('a publish in an active span yields a linked process span in the consumer, with the messaging attributes', async () => {
    const bus = await busOn(tier)
    const Created = defineEvent(`otel.${uniqueToken('c')}.created`, z.object({ n: z.number() }))
    await bus.subscribe(Created, () => {}, { group: 'otel-workers' })
    const { traceId, rootSpanId, result: envelope } = await inRootSpan(() => bus.publish(Created, { n: 1 }))
    await eventually(
      () => named(spansOf(traceId), `acked ${Created.type}`).length === 1,
      () => `the acked span (seen: ${spansOf(traceId).map((s) => s.name)})`,
      { timeoutMs: 20_000 },
    )

    const spans = spansOf(traceId)
    const publish = one(spans, `publish ${Created.type}`)
    expect(publish.kind).toBe(SpanKind.PRODUCER)
    expect(publish.parentSpanContext?.spanId).toBe(rootSpanId)
    expect(publish.attributes).toMatchObject({
      [ATTR.system]: bus.transport.name,
      [ATTR.destination]: Created.type,
      [ATTR.messageId]: envelope.id,
      [ATTR.operationType]: 'send',
    })
    // The envelope carried the producer span's context (CloudEvents distributed-tracing extension).
    expect(envelope.traceparent).toBe(`00-${traceId}-${publish.spanContext().spanId}-01`)

    const process = one(spans, `process ${Created.type}`)
    expect(process.kind).toBe(SpanKind.CONSUMER)
    expect(process.parentSpanContext?.spanId).toBe(publish.spanContext().spanId)
    expect(process.links.map((l) => l.context.spanId)).toEqual([publish.spanContext().spanId])
    expect(process.attributes).toMatchObject({
      [ATTR.system]: tier,
      [ATTR.destination]: Created.type,
      [ATTR.consumerGroup]: 'otel-workers',
      [ATTR.messageId]: envelope.id,
      [ATTR.operationType]: 'process',
      [ATTR.attempt]: 1,
    })
    const acked = one(spans, `acked ${Created.type}`)
    expect(acked.parentSpanContext?.spanId).toBe(process.spanContext().spanId)
    expect(acked.attributes).toMatchObject({
      [ATTR.operationType]: 'settle',
      [ATTR.settleOutcome]: 'acked',
      [ATTR.consumerGroup]: 'otel-workers',
    })
  })

  it('keeps one trace through a retry, the dead letter and its redrive, recording error.type', async () => {
    const bus = await busOn(tier)
    const Charged = defineEvent(`otel.${uniqueToken('r')}.charged`, z.object({ n: z.number() }))
    let failing = true
    await bus.subscribe(
      Charged,
      () => {
        if (failing) throw new RangeError('card declined')
      },
      { group: 'billing' },
    )
    const { traceId } = await inRootSpan(() => bus.publish(Charged, { n: 1 }))
    await eventually(
      () => named(spansOf(traceId), `dead-lettered ${Charged.type}`).length === 1,
      'the dead-lettered span',
      { timeoutMs: 20_000 },
    )
    failing = false
    const [dead] = await bus.deadLetters.list({ group: 'billing' })
    expect(dead).toBeDefined()
    expect(await bus.deadLetters.redrive([dead?.id ?? ''])).toBe(1)
    await eventually(
      () => named(spansOf(traceId), `acked ${Charged.type}`).length === 1,
      'the acked span after the redrive',
      { timeoutMs: 20_000 },
    )

    const spans = spansOf(traceId)
    const publish = one(spans, `publish ${Charged.type}`)
    const processes = named(spans, `process ${Charged.type}`)
    expect(processes).toHaveLength(3)
    for (const p of processes) expect(p.links.map((l) => l.context.spanId)).toEqual([publish.spanContext().spanId])
    const failed = processes.filter((p) => p.status.code === SpanStatusCode.ERROR)
    expect(failed).toHaveLength(2)
    for (const p of failed) expect(p.attributes[ATTR.errorType]).toBe('RangeError')
    expect(one(spans, `retried ${Charged.type}`).attributes[ATTR.settleOutcome]).toBe('retried')
    expect(one(spans, `dead-lettered ${Charged.type}`).status.code).toBe(SpanStatusCode.ERROR)
  })

  it('answers a request inside the trace: the reply is published under the responder’s process span', async () => {
    const bus = await busOn(tier)
    const Quote = defineEvent(`otel.${uniqueToken('q')}.quote`, z.object({ sku: z.string() }), {
      reply: z.object({ cents: z.number() }),
    })
    await bus.subscribe(Quote, () => ({ cents: 1299 }), { group: 'pricing' })
    const { traceId, result } = await inRootSpan(() => bus.request(Quote, { sku: 'a' }, { timeoutMs: 15_000 }))
    expect(result).toEqual({ cents: 1299 })
    await eventually(
      () => named(spansOf(traceId), `acked ${Quote.type}`).length === 1,
      'the acked span of the request',
      { timeoutMs: 20_000 },
    )
    const spans = spansOf(traceId)
    const process = one(spans, `process ${Quote.type}`)
    const reply = one(spans, 'publish (temporary)')
    expect(reply.kind).toBe(SpanKind.PRODUCER)
    expect(reply.parentSpanContext?.spanId).toBe(process.spanContext().spanId)
    expect(reply.attributes).toMatchObject({
      [ATTR.destination]: '(temporary)',
      'messaging.destination.temporary': true,
    })
  })
})
