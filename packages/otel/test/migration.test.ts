import { context, SpanKind, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { type Bus, createBus, decodeEnvelope, defineEvent } from '@tierbus/core'
import { eventually, uniqueToken } from '@tierbus/core/testing'
import { type MigratingTransport, migratingTransport } from '@tierbus/migrator'
import { ATTR, otel, spanContextOf } from '@tierbus/otel'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { freshPostgresTransport } from '../../db-realtime/test/helpers.js'
import { adminClient, isolatedRedisTransport } from '../../redis-streams/test/helpers.js'

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const tracer = provider.getTracer('route-handler')
const admin = adminClient()
const opened: Array<{ bus: Bus; transport: MigratingTransport }> = []

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
})
afterAll(async () => {
  for (const { bus, transport } of opened) {
    await bus.close({ timeoutMs: 2_000 })
    await transport.close()
  }
  admin.disconnect()
  context.disable()
  await provider.shutdown()
})

const spansOf = (traceId: string): ReadableSpan[] =>
  exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId)

describe('one trace across a live migration', () => {
  it.each([
    ['through the outbox relay', 'in-process' as const],
    ['with inline dual-write', undefined],
  ])(
    'postgres -> redis %s: from the publishing route handler to the handler, in dual-write and after cutover',
    async (_how, outbox) => {
      const source = await freshPostgresTransport()
      const target = await isolatedRedisTransport(admin)
      const transport = migratingTransport({
        source,
        target,
        phase: 'dual-write',
        ...(outbox ? { outbox } : {}),
        onError: () => {},
      })
      const bus = createBus({ transport, source: 'signalsloop/api', onError: () => {} }).use(
        otel({ tracerProvider: provider, metrics: false }),
      )
      opened.push({ bus, transport })
      const Created = defineEvent(`feedback.${uniqueToken('m')}.created`, z.object({ text: z.string() }))
      const handled = new Map<string, string | undefined>()
      await bus.subscribe(Created, (e) => void handled.set(e.id, trace.getActiveSpan()?.spanContext().spanId), {
        group: 'sentiment-agent',
        leaseMs: 3_000,
      })

      /** What a route handler does: a server span, and the publish inside it. */
      const publishFromRoute = async (text: string) => {
        const route = tracer.startSpan('POST /api/feedback', { kind: SpanKind.SERVER })
        const envelope = await context.with(trace.setSpan(context.active(), route), () =>
          bus.publish(Created, { text }),
        )
        route.end()
        return { envelope, traceId: route.spanContext().traceId, routeSpanId: route.spanContext().spanId }
      }

      for (const phase of ['dual-write', 'cutover'] as const) {
        if (transport.phase !== phase) await transport.setPhase(phase)
        const { envelope, traceId, routeSpanId } = await publishFromRoute(phase)
        await eventually(() => handled.has(envelope.id), `the ${phase} event handled`, { timeoutMs: 20_000 })
        await eventually(
          () => spansOf(traceId).some((s) => s.name === `acked ${Created.type}`),
          `the ${phase} event acked`,
          { timeoutMs: 10_000 },
        )

        const spans = spansOf(traceId)
        const publish = spans.find((s) => s.name === `publish ${Created.type}`)
        const process = spans.filter((s) => s.name === `process ${Created.type}`)
        expect(publish?.parentSpanContext?.spanId).toBe(routeSpanId)
        expect(process).toHaveLength(1)
        expect(process[0]?.parentSpanContext?.spanId).toBe(publish?.spanContext().spanId)
        expect(process[0]?.attributes[ATTR.system]).toBe(transport.name)
        // The handler ran inside its process span, so what it publishes joins the same trace.
        expect(handled.get(envelope.id)).toBe(process[0]?.spanContext().spanId)

        // The envelope reached Redis (relayed, or written by the dual-write) with its trace context intact.
        const relayedCopy = async () =>
          (await admin.xrange(target.keys.stream(Created.type), '-', '+'))
            .map(([, fields]) => decodeEnvelope(fields[fields.indexOf('payload') + 1] ?? ''))
            .find((e) => e.id === envelope.id)
        await eventually(async () => (await relayedCopy()) !== undefined, `the ${phase} event on Redis`, {
          timeoutMs: 10_000,
        })
        const relayed = await relayedCopy()
        expect(relayed && spanContextOf(relayed)?.spanId).toBe(publish?.spanContext().spanId)
        expect(relayed?.traceparent).toBe(envelope.traceparent)
      }
    },
    60_000,
  )
})
