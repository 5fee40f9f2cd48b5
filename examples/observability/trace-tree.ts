// Renders the trace of one request through tierbus on the Redis tier as a text tree (docs/observability.md
// shows its output). Run: npx tsx --conditions=tierbus-source examples/observability/trace-tree.ts
import { context, SpanKind, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { createBus, defineEvent, idempotent, memoryDedupStore } from '@tierbus/core'
import { otel } from '@tierbus/otel'
import { redisTransport } from '@tierbus/redis-streams'
import { Redis } from 'ioredis'
import { z } from 'zod'

const exporter = new InMemorySpanExporter()
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())

const FeedbackCreated = defineEvent('feedback.created', z.object({ feedbackId: z.string(), text: z.string() }))
const SentimentScored = defineEvent('sentiment.scored', z.object({ feedbackId: z.string(), score: z.number() }))
const prefix = `tierbus-example:trace:${Date.now()}`
const transport = await redisTransport({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix })
const bus = createBus({
  transport,
  source: 'signalsloop/api',
  retry: { attempts: 3, backoff: { baseMs: 50, maxMs: 100 } },
})
bus.use(otel({ tracerProvider }))

let attempts = 0
let scoredResolve = () => {}
const scored = new Promise<void>((resolve) => (scoredResolve = resolve))
await bus.subscribe(
  FeedbackCreated,
  async (e) => {
    if (++attempts === 1) throw new Error('model warming up')
    await bus.publish(SentimentScored, { feedbackId: e.data.feedbackId, score: 0.8 })
  },
  { group: 'sentiment-agent', middleware: [idempotent({ store: memoryDedupStore() })] },
)
await bus.subscribe(SentimentScored, () => scoredResolve(), { group: 'dashboard' })

const route = tracerProvider.getTracer('signalsloop-web').startSpan('POST /api/feedback', { kind: SpanKind.SERVER })
await context.with(trace.setSpan(context.active(), route), () =>
  bus.publish(FeedbackCreated, { feedbackId: 'f-1', text: 'love it' }),
)
route.end()
await scored
await new Promise((resolve) => setTimeout(resolve, 200)) // the last settle spans end right after the handler
await bus.close()
const admin = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const keys = await admin.keys(`${prefix}:*`)
if (keys.length > 0) await admin.del(...keys)
admin.disconnect()

const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === route.spanContext().traceId)
const children = (id: string | undefined) =>
  spans
    .filter((s) => s.parentSpanContext?.spanId === id)
    .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1])
const SHOWN: Record<string, string> = {
  'messaging.system': 'system',
  'messaging.consumer.group.name': 'group',
  'tierbus.delivery.attempt': 'attempt',
  'error.type': 'error.type',
}
const label = (s: ReadableSpan) => {
  const ms = (s.duration[0] * 1e3 + s.duration[1] / 1e6).toFixed(1)
  const attrs = Object.entries(SHOWN)
    .filter(([k]) => s.attributes[k] !== undefined)
    .map(([k, short]) => `${short}=${s.attributes[k]}`)
  const linked = s.links.length ? ` links=${s.links.length}` : ''
  return `${s.name} [${SpanKind[s.kind]}] ${ms} ms ${attrs.join(' ')}${linked}`.trimEnd()
}
const print = (s: ReadableSpan, indent: string, last: boolean, root: boolean): void => {
  console.log(root ? label(s) : `${indent}${last ? '└─ ' : '├─ '}${label(s)}`)
  const kids = children(s.spanContext().spanId)
  for (const [i, k] of kids.entries())
    print(k, root ? '' : `${indent}${last ? '   ' : '│  '}`, i === kids.length - 1, false)
}
console.log(`trace ${route.spanContext().traceId} (${spans.length} spans, tier ${transport.name})`)
for (const root of children(undefined)) print(root, '', true, true)
