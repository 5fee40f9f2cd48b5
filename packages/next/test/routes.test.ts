import { type Bus, ConfigError, createBus, defineEvent, memoryTransport, PROMETHEUS_CONTENT_TYPE } from '@tierbus/core'
import { eventually } from '@tierbus/core/testing'
import { migratingTransport } from '@tierbus/migrator'
import {
  bearer,
  deadLetterRoutes,
  drainRoute,
  metricsRoute,
  PUBLIC_UNAUTHENTICATED,
  resetSharedBus,
  sharedBus,
  singleton,
  tierOf,
} from '@tierbus/next'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'

/** A route's JSON body, loosely typed for assertions. */
// biome-ignore lint/suspicious/noExplicitAny: a JSON body the assertions reach into field by field (toEqual checks its shape)
const read = async (res: Response): Promise<any> => res.json()

const FeedbackCreated = defineEvent('feedback.created', z.object({ feedbackId: z.string(), text: z.string() }))
/** Headers of a same-origin JSON request, as the dashboard's fetch sends them. */
const JSON_HEADERS = { 'content-type': 'application/json' }
const buses: Bus[] = []
const newBus = () => {
  const bus = createBus({
    transport: memoryTransport(),
    source: 'signalsloop/web',
    retry: { attempts: 2, backoff: { baseMs: 5, maxMs: 10 } },
    onError: () => {},
  })
  buses.push(bus)
  return bus
}
afterEach(async () => {
  while (buses.length) await buses.pop()!.close()
})

describe('metrics route', () => {
  it("answers seed 004's /api/events/metrics shape with the advisor's recommendation", async () => {
    const bus = newBus()
    await bus.subscribe(
      FeedbackCreated,
      (e) => {
        if (e.data.text === 'poison') throw new Error('cannot parse')
      },
      { group: 'sentiment-agent' },
    )
    await bus.publishBatch(FeedbackCreated, [
      { feedbackId: 'a', text: 'ok' },
      { feedbackId: 'b', text: 'poison' },
    ])
    await eventually(() => bus.metrics().totals.deadLettered === 1, 'dead letter')
    const GET = metricsRoute({ bus, requirements: { agents: 8 }, authorize: PUBLIC_UNAUTHENTICATED })
    const res = await GET(new Request('http://localhost/api/events/metrics'))
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const body = await read(res)
    expect(body.eventVolume).toMatchObject({ published: 2, handled: 1 })
    expect(body.eventVolume.byType['feedback.created']).toEqual({ published: 2, acked: 1, deadLettered: 1 })
    expect(body.latency.endToEndMs.count).toBe(1)
    expect(body.errorRate).toBeGreaterThan(0)
    expect(body.dlqCount).toBe(1)
    expect(body.groups['sentiment-agent']).toMatchObject({ acked: 1, deadLettered: 1, lag: 0 })
    expect(body.migration).toBeNull()
    expect(body.recommendation.currentTier).toBe('memory')
    expect(body.recommendation.reasons.length).toBeGreaterThan(0)
  })

  it('reports the migration phase and counters when the bus runs over a migrating transport', async () => {
    const transport = migratingTransport({ source: memoryTransport(), target: memoryTransport(), phase: 'shadow' })
    const bus = createBus({ transport, source: 'signalsloop/web' })
    buses.push(bus)
    const body = await read(
      await metricsRoute({ bus, authorize: PUBLIC_UNAUTHENTICATED })(
        new Request('http://localhost/api/events/metrics'),
      ),
    )
    expect(body.transport).toBe('memory->memory')
    expect(body.migration).toMatchObject({ phase: 'shadow', secondaryWriteFailures: 0, relayed: 0 })
    expect(body.recommendation.currentTier).toBe('memory')
  })

  it('answers a Prometheus scrape in the text exposition format (Accept negotiation, or format: prometheus)', async () => {
    const bus = newBus()
    await bus.subscribe(FeedbackCreated, () => {}, { group: 'sentiment-agent' })
    await bus.publish(FeedbackCreated, { feedbackId: 'a', text: 'ok' })
    await eventually(() => bus.metrics().totals.acked === 1, 'handled')
    const GET = metricsRoute({ bus, authorize: bearer('scrape-token') })
    // What Prometheus 2.x/3.x sends when it scrapes.
    const accept = 'application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1'
    expect((await GET(new Request('http://localhost/api/events/metrics', { headers: { accept } }))).status).toBe(401)
    const res = await GET(
      new Request('http://localhost/api/events/metrics', { headers: { accept, authorization: 'Bearer scrape-token' } }),
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe(PROMETHEUS_CONTENT_TYPE)
    const families = parsePrometheusTextFormat(await res.text()) as Array<{
      name: string
      metrics: Array<{ value?: string; labels?: Record<string, string> }>
    }>
    const published = families.find((f) => f.name === 'tierbus_events_published_total')
    expect(published?.metrics).toEqual([{ value: '1', labels: { type: 'feedback.created' } }])
    expect(families.find((f) => f.name === 'tierbus_group_lag')?.metrics).toEqual([
      { value: '0', labels: { group: 'sentiment-agent' } },
    ])
    // A browser or fetch() default gets the JSON body; format: 'prometheus' answers text whatever Accept says.
    const browser = await GET(
      new Request('http://localhost/api/events/metrics', {
        headers: { accept: 'text/html,*/*;q=0.8', authorization: 'Bearer scrape-token' },
      }),
    )
    expect(browser.headers.get('content-type')).toMatch(/application\/json/)
    const forced = await metricsRoute({ bus, format: 'prometheus', authorize: PUBLIC_UNAUTHENTICATED })(
      new Request('http://localhost/m'),
    )
    expect(await forced.text()).toContain('tierbus_events_published_total{type="feedback.created"} 1')
    expect(() => metricsRoute({ bus, format: 'xml' as 'json', authorize: PUBLIC_UNAUTHENTICATED })).toThrow(ConfigError)
  })

  it('maps transport names to advisor tiers', () => {
    expect(tierOf('postgres')).toBe('db-realtime')
    expect(tierOf('pglite')).toBe('db-realtime')
    expect(tierOf('upstash')).toBe('redis-streams')
    expect(tierOf('sqs')).toBe('sqs-sns')
    expect(tierOf('postgres->redis')).toBe('db-realtime')
    expect(tierOf('nats')).toBe('nats')
  })
})

describe('drain route', () => {
  it('handles what is queued within the budget, stops when idle, and reports the counts', async () => {
    const bus = newBus()
    await bus.publishBatch(
      FeedbackCreated,
      Array.from({ length: 30 }, (_, i) => ({ feedbackId: `f${i}`, text: 'x' })),
    )
    // The group exists from an earlier drain; memory keeps its queue (as a persistent tier would).
    const seen: string[] = []
    const POST = drainRoute({
      bus,
      budgetMs: 5_000,
      idleMs: 100,
      authorize: bearer('s3cret'),
      subscribe: async (b) => [
        await b.subscribe(FeedbackCreated, (e) => void seen.push(e.data.feedbackId), {
          group: 'sentiment-agent',
          startFrom: 'earliest',
        }),
      ],
    })
    expect(
      (await POST(new Request('http://localhost/api/events/drain', { method: 'POST', headers: JSON_HEADERS }))).status,
    ).toBe(401)
    const res = await POST(
      new Request('http://localhost/api/events/drain', {
        method: 'POST',
        headers: { ...JSON_HEADERS, authorization: 'Bearer s3cret' },
      }),
    )
    expect(res.status).toBe(200)
    const body = await read(res)
    expect(body).toMatchObject({ handled: 30, deadLettered: 0, finishedInFlight: true })
    expect(body.durationMs).toBeLessThan(5_000)
    expect(new Set(seen).size).toBe(30)
  })

  it('starts a new serverless group from the earliest retained event, so nothing published before the first drain is skipped', async () => {
    const { redisTransport } = await import('@tierbus/redis-streams')
    const prefix = `tbdrain-${Math.random().toString(36).slice(2, 10)}`
    const bus = createBus({
      transport: await redisTransport({ url: 'redis://127.0.0.1:6379', prefix }),
      source: 'signalsloop/web',
      onError: () => {},
    })
    buses.push(bus)
    try {
      // Published before any consumer group exists: a group created at 'latest' would never see these.
      await bus.publishBatch(
        FeedbackCreated,
        Array.from({ length: 5 }, (_, i) => ({ feedbackId: `early-${i}`, text: 'x' })),
      )
      const seen: string[] = []
      const POST = drainRoute({
        bus,
        budgetMs: 10_000,
        idleMs: 300,
        authorize: PUBLIC_UNAUTHENTICATED,
        subscribe: async (b) => [
          await b.subscribe(FeedbackCreated, (e) => void seen.push(e.data.feedbackId), { group: 'serverless-agent' }),
        ],
      })
      const body = await read(
        await POST(new Request('http://localhost/api/events/drain', { method: 'POST', headers: JSON_HEADERS })),
      )
      expect(body.handled).toBe(5)
      expect(seen.sort()).toEqual(['early-0', 'early-1', 'early-2', 'early-3', 'early-4'])
      // startFrom: 'latest' keeps the old behaviour for a group that should ignore history.
      const latest = drainRoute({
        bus,
        budgetMs: 5_000,
        idleMs: 300,
        startFrom: 'latest',
        authorize: PUBLIC_UNAUTHENTICATED,
        subscribe: async (b) => [await b.subscribe(FeedbackCreated, () => {}, { group: 'only-new' })],
      })
      expect(
        (
          await read(
            await latest(new Request('http://localhost/api/events/drain', { method: 'POST', headers: JSON_HEADERS })),
          )
        ).handled,
      ).toBe(0)
    } finally {
      const { Redis } = await import('ioredis')
      const redis = new Redis('redis://127.0.0.1:6379')
      const keys = await redis.keys(`${prefix}*`)
      if (keys.length) await redis.del(...keys)
      await redis.quit()
    }
  })

  it('stops taking events when the budget runs out', async () => {
    const bus = newBus()
    await bus.publishBatch(
      FeedbackCreated,
      Array.from({ length: 100 }, (_, i) => ({ feedbackId: `f${i}`, text: 'x' })),
    )
    const POST = drainRoute({
      bus,
      budgetMs: 300,
      idleMs: 10_000,
      authorize: PUBLIC_UNAUTHENTICATED,
      subscribe: async (b) => [
        await b.subscribe(FeedbackCreated, () => new Promise((r) => setTimeout(r, 20)), {
          group: 'slow',
          concurrency: 1,
          startFrom: 'earliest',
        }),
      ],
    })
    const body = await read(
      await POST(new Request('http://localhost/drain', { method: 'POST', headers: JSON_HEADERS })),
    )
    expect(body.handled).toBeGreaterThan(0)
    expect(body.handled).toBeLessThan(100)
    expect(body.durationMs).toBeLessThan(1_500)
  })
})

describe('dead-letter routes', () => {
  it('lists, redrives and purges dead letters', async () => {
    const bus = newBus()
    let healthy = false
    await bus.subscribe(
      FeedbackCreated,
      () => {
        if (!healthy) throw new Error('model down')
      },
      { group: 'sentiment-agent' },
    )
    await bus.publishBatch(FeedbackCreated, [
      { feedbackId: 'a', text: 'x' },
      { feedbackId: 'b', text: 'y' },
    ])
    await eventually(() => bus.metrics().totals.deadLettered === 2, 'two dead letters')
    const routes = deadLetterRoutes({ bus, authorize: PUBLIC_UNAUTHENTICATED })
    const listed = await read(await routes.GET(new Request('http://localhost/api/events/dlq?group=sentiment-agent')))
    expect(listed.deadLetters).toHaveLength(2)
    expect(listed.deadLetters[0].reason).toMatchObject({ kind: 'handler-failed', attempts: 2 })
    healthy = true
    const redriven = await read(
      await routes.POST(
        new Request('http://localhost/api/events/dlq', {
          method: 'POST',
          headers: JSON_HEADERS,
          body: JSON.stringify({ ids: [listed.deadLetters[0].id] }),
        }),
      ),
    )
    expect(redriven).toEqual({ requested: 1, redriven: 1 })
    await eventually(() => bus.metrics().totals.acked === 1, 'redriven event handled')
    const purged = await read(
      await routes.DELETE(
        new Request('http://localhost/api/events/dlq', {
          method: 'DELETE',
          headers: JSON_HEADERS,
          body: JSON.stringify({ all: true }),
        }),
      ),
    )
    expect(purged).toEqual({ requested: 1, purged: 1 })
    const bad = await routes.POST(
      new Request('http://localhost/api/events/dlq', { method: 'POST', headers: JSON_HEADERS, body: '{"ids": 3}' }),
    )
    expect(bad.status).toBe(400)
    expect(await read(bad)).toEqual({ code: 'BAD_REQUEST', error: expect.stringMatching(/send \{ "ids"/) })
  })
})

describe('shared bus', () => {
  it('creates the bus once per process, surviving module reloads, and does not cache a failure', async () => {
    const a = await sharedBus({ env: { TIERBUS_TRANSPORT: 'memory' }, source: 'web', key: 'test' })
    const b = await sharedBus({ env: { TIERBUS_TRANSPORT: 'memory' }, source: 'web', key: 'test' })
    expect(a).toBe(b)
    expect(singleton('k', () => ({ n: 1 }))).toBe(singleton('k', () => ({ n: 2 })))
    await resetSharedBus('test')
    await expect(sharedBus({ env: { TIERBUS_TRANSPORT: 'kafka' }, source: 'web', key: 'bad' })).rejects.toThrow(
      /TIERBUS_TRANSPORT/,
    )
    const ok = await sharedBus({ env: { TIERBUS_TRANSPORT: 'memory' }, source: 'web', key: 'bad' })
    expect(ok.transport.name).toBe('memory')
    await resetSharedBus('bad')
  })
})
