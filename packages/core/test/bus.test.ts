import {
  ConfigError,
  createBus,
  defineEvent,
  MEMORY_CAPABILITIES,
  memoryTransport,
  outgoing,
  type ReceivedEvent,
  TierbusError,
  TimeoutError,
  type Transport,
  ValidationError,
} from '@tierbus/core'
import { eventually, gate } from '@tierbus/core/testing'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { z } from 'zod'

const FeedbackCreated = defineEvent(
  'feedback.created',
  z.object({
    feedbackId: z.string(),
    text: z.string(),
    score: z.number().default(0),
    at: z.string().transform((s) => new Date(s)),
  }),
)

function newBus(transport: Transport = memoryTransport()) {
  return createBus({ transport, source: 'signalsloop/api', onError: () => {} })
}

describe('defineEvent', () => {
  it('types publishers with the schema input and handlers with its output', async () => {
    const bus = newBus()
    await bus.subscribe(FeedbackCreated, (e) => {
      expectTypeOf(e.data.score).toEqualTypeOf<number>()
      expectTypeOf(e.data.at).toEqualTypeOf<Date>()
    })
    expectTypeOf(bus.publish<typeof FeedbackCreated>)
      .parameter(1)
      .toEqualTypeOf<{ feedbackId: string; text: string; score?: number | undefined; at: string }>()
    await bus.close()
  })

  it('rejects a wildcard or malformed type and a non-zod schema with a ConfigError', () => {
    expect(() => defineEvent('feedback.*', z.object({}))).toThrow(ConfigError)
    expect(() => defineEvent('feedback created', z.object({}))).toThrow(ConfigError)
    expect(() => defineEvent('feedback.created', {} as z.ZodType)).toThrow(/zod schema/)
    expect(() => defineEvent('feedback.created', z.object({}), { version: 0 })).toThrow(/version/)
  })
})

describe('bus', () => {
  it('validates data before it leaves: nothing is published and the error lists every issue', async () => {
    const transport = memoryTransport()
    const bus = newBus(transport)
    const got: unknown[] = []
    await bus.subscribe('feedback.>', (e) => void got.push(e), { group: 'audit' })
    const err = await bus.publish(FeedbackCreated, { feedbackId: 1, text: null } as never).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ValidationError)
    expect((err as ValidationError).issues.map((i) => i.path).sort()).toEqual(['at', 'feedbackId', 'text'])
    expect((err as Error).message).toMatch(/cannot publish 'feedback.created'/)
    expect(bus.metrics().totals.published).toBe(0)
    await bus.close()
    expect(got).toEqual([])
  })

  it('hands handlers the parsed output (defaults and transforms applied)', async () => {
    const bus = newBus()
    const got: ReceivedEvent<z.output<typeof FeedbackCreated.schema>>[] = []
    await bus.subscribe(FeedbackCreated, (e) => void got.push(e))
    await bus.publish(FeedbackCreated, { feedbackId: 'f1', text: 'love it', at: '2026-11-23T10:00:00Z' })
    await eventually(() => got.length === 1, 'delivery')
    expect(got[0]!.data.score).toBe(0)
    expect(got[0]!.data.at).toBeInstanceOf(Date)
    await bus.close()
  })

  it('never runs more handlers at once than the concurrency limit', async () => {
    const bus = newBus()
    const E = defineEvent('load.test', z.object({ n: z.number() }))
    let running = 0
    let peak = 0
    let done = 0
    await bus.subscribe(
      E,
      async () => {
        running++
        peak = Math.max(peak, running)
        await new Promise((r) => setImmediate(r))
        running--
        done++
      },
      { concurrency: 3 },
    )
    await bus.publishBatch(
      E,
      Array.from({ length: 60 }, (_, n) => ({ n })),
    )
    await eventually(() => done === 60, 'all handled')
    expect(peak).toBe(3)
    await bus.close()
  })

  it('checks pattern subscriptions against registered definitions and dead-letters invalid data', async () => {
    const transport = memoryTransport()
    const bus = createBus({ transport, source: 'x', events: [FeedbackCreated], onError: () => {} })
    const got: unknown[] = []
    await bus.subscribe('feedback.*', (e) => void got.push(e.data), { group: 'audit' })
    await transport.publish([
      {
        specversion: '1.0',
        id: 'e1',
        source: 'rogue',
        type: 'feedback.created',
        time: new Date().toISOString(),
        data: { nope: true },
      },
    ])
    await eventually(async () => (await transport.deadLetters.list()).length === 1, 'dead letter')
    const [dead] = await transport.deadLetters.list()
    expect(dead!.reason.kind).toBe('invalid-payload')
    expect(dead!.reason.error).toMatch(/feedbackId/)
    expect(got).toEqual([])
    await bus.close()
  })

  it('publishes a mixed batch built with outgoing()', async () => {
    const bus = newBus()
    const Other = defineEvent('feedback.deleted', z.object({ feedbackId: z.string() }))
    const types: string[] = []
    await bus.subscribe('feedback.>', (e) => void types.push(e.type))
    const sent = await bus.publishBatch([
      outgoing(FeedbackCreated, { feedbackId: 'a', text: 't', at: '2026-01-01T00:00:00Z' }),
      outgoing(Other, { feedbackId: 'a' }, { key: 'a' }),
    ])
    expect(sent.map((e) => e.type)).toEqual(['feedback.created', 'feedback.deleted'])
    await eventually(() => types.length === 2, 'both')
    await bus.close()
  })

  it('derives the default group from source, so two replicas of one service compete', async () => {
    const transport = memoryTransport()
    const a = createBus({ transport, source: 'signalsloop/worker', closeTransport: false })
    const b = createBus({ transport, source: 'signalsloop/worker', closeTransport: false })
    const E = defineEvent('job.queued', z.object({ n: z.number() }))
    const handled: number[] = []
    const subA = await a.subscribe(E, (e) => void handled.push(e.data.n))
    await b.subscribe(E, (e) => void handled.push(e.data.n))
    expect(subA.group).toBe('signalsloop-worker')
    await a.publishBatch(
      E,
      Array.from({ length: 20 }, (_, n) => ({ n })),
    )
    await eventually(() => handled.length >= 20, '20 handled')
    expect(new Set(handled).size).toBe(20)
    expect(handled).toHaveLength(20)
    await a.close()
    await b.close()
  })

  it('refuses options the tier cannot honour, at subscribe time, with a ConfigError naming the tier', async () => {
    const base = memoryTransport()
    const limited: Transport = {
      name: 'limited',
      capabilities: { ...MEMORY_CAPABILITIES, replay: false, ordering: 'none', delay: false },
      publish: (b) => base.publish(b),
      subscribe: (s, f) => base.subscribe(s, f),
      close: () => base.close(),
    }
    const bus = newBus(limited)
    const E = defineEvent('x.y', z.object({}))
    await expect(bus.subscribe(E, () => {}, { startFrom: 'earliest' })).rejects.toThrow(/limited tier cannot replay/)
    await expect(bus.subscribe(E, () => {}, { ordered: true })).rejects.toThrow(/per-key order/)
    await expect(bus.publish(E, {}, { delayMs: 10 })).rejects.toThrow(/delayed delivery/)
    expect(() => bus.deadLetters).toThrow(ConfigError)
    await expect(bus.subscribe(E, () => {}, { group: 'bad group!' })).rejects.toThrow(ConfigError)
    await bus.close()
  })

  it('refuses ordered: true on a tier without per-key order with a hint that is true for that tier', async () => {
    const base = memoryTransport()
    const unordered = (extra: Partial<Transport> = {}): Transport => ({
      name: 'unordered',
      capabilities: { ...MEMORY_CAPABILITIES, ordering: 'none' },
      publish: (b) => base.publish(b),
      subscribe: (s, f) => base.subscribe(s, f),
      close: async () => {},
      ...extra,
    })
    const E = defineEvent('x.ordered', z.object({}))
    const plain = newBus(unordered())
    const err = await plain.subscribe(E, () => {}, { ordered: true }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    // No "FIFO variant" claim for a tier that has none: it names tiers that do keep order.
    expect((err as Error).message).not.toMatch(/its FIFO variant/)
    expect((err as Error).message).toMatch(/postgres/)
    const hinted = newBus(unordered({ orderingHint: 'create it with fifo: true' }))
    await expect(hinted.subscribe(E, () => {}, { ordered: true })).rejects.toThrow(
      /unordered tier does not keep per-key order \(ordered: true\); create it with fifo: true/,
    )
    await plain.close()
    await hinted.close()
    await base.close()
  })

  it('fails a request at once when the responder dead-letters it, instead of waiting for the timeout', async () => {
    const bus = newBus()
    const Cmd = defineEvent('nlp.analyze', z.object({ text: z.string() }), { reply: z.object({ score: z.number() }) })
    await bus.subscribe(
      Cmd,
      () => {
        throw new Error('model unavailable')
      },
      { retry: { attempts: 1 } },
    )
    // A timeout beyond the test's own: only the responder's failure can end this request in time.
    const err = await bus.request(Cmd, { text: 'x' }, { timeoutMs: 120_000 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TierbusError)
    expect((err as TierbusError).code).toBe('REPLY_FAILED')
    expect((err as Error).message).toContain('model unavailable')
    await bus.close()
  })

  it('rejects a request with a TimeoutError while its publish is still running, without an unhandled rejection', async () => {
    const unhandled: unknown[] = []
    const record = (reason: unknown) => void unhandled.push(reason)
    process.on('unhandledRejection', record)
    const inner = memoryTransport()
    const held = gate()
    // A tier whose publish outlasts the request's timeout (a broker that is slow to accept).
    const slow: Transport = {
      name: 'slow-publish',
      capabilities: inner.capabilities,
      publish: async (batch) => {
        await held.promise
        await inner.publish(batch)
      },
      subscribe: (spec, onBatch) => inner.subscribe(spec, onBatch),
      close: () => inner.close(),
    }
    const bus = newBus(slow)
    const Cmd = defineEvent('slow.publish', z.object({}))
    await bus.subscribe(Cmd, () => 1)
    let outcome: unknown
    void bus.request(Cmd, {}, { timeoutMs: 50 }).then(
      (v) => (outcome = v),
      (e: unknown) => (outcome = e),
    )
    try {
      await eventually(() => outcome !== undefined, 'request settled while its publish is still held')
      expect(outcome).toBeInstanceOf(TimeoutError)
      held.open()
      await eventually(() => bus.metrics().totals.published === 1, 'held publish finished')
      await new Promise((resolve) => setImmediate(resolve))
      expect(unhandled).toEqual([])
    } finally {
      held.open()
      process.off('unhandledRejection', record)
      await bus.close()
    }
  })

  it('rejects pending requests and new calls once closed', async () => {
    const bus = newBus()
    const Cmd = defineEvent('slow.cmd', z.object({}))
    const hold = gate()
    await bus.subscribe(Cmd, async () => {
      await hold.promise
      return 1
    })
    const pending = bus.request(Cmd, {}, { timeoutMs: 10_000 }).catch((e: unknown) => e)
    await eventually(() => bus.metrics().totals.delivered === 1, 'request delivered')
    const closing = bus.close({ timeoutMs: 50 })
    const err = await pending
    expect((err as TierbusError).code).toBe('CLOSED')
    await closing
    hold.open()
    await expect(bus.publish(Cmd, {})).rejects.toThrow(/closed/)
  })

  it('abandons handlers still running at the close timeout so the tier can redeliver them', async () => {
    const transport = memoryTransport()
    const bus = createBus({ transport, source: 's', closeTransport: false })
    const E = defineEvent('stuck.job', z.object({}))
    const hold = gate()
    const sub = await bus.subscribe(E, () => hold.promise)
    await bus.publish(E, {})
    await eventually(() => sub.inFlight === 1, 'in flight')
    expect(await sub.close({ timeoutMs: 20 })).toBe(false)
    hold.open()
  })

  it('counts a dead letter only once the tier wrote it; a failed write comes back after the lease', async () => {
    const base = memoryTransport()
    let failNextDeadLetter = true
    const flaky: Transport = {
      name: 'flaky-dlq',
      capabilities: base.capabilities,
      deadLetters: base.deadLetters,
      publish: (b) => base.publish(b),
      subscribe: (spec, onBatch) =>
        base.subscribe(spec, (batch) =>
          onBatch(
            batch.map((d) => ({
              envelope: d.envelope,
              attempt: d.attempt,
              ack: () => d.ack(),
              retry: (ms: number) => d.retry(ms),
              deadLetter: async (reason) => {
                if (failNextDeadLetter) {
                  failNextDeadLetter = false
                  throw new Error('DLQ write timed out')
                }
                await d.deadLetter(reason)
              },
            })),
          ),
        ),
      close: () => base.close(),
    }
    const bus = newBus(flaky)
    const E = defineEvent('dlq.flaky', z.object({}))
    await bus.subscribe(
      E,
      () => {
        throw new Error('always')
      },
      { retry: { attempts: 1 }, leaseMs: 100 },
    )
    await bus.publish(E, {})
    await eventually(() => bus.metrics().totals.settleFailures === 1, 'the failed DLQ write')
    expect(bus.metrics().totals.deadLettered).toBe(0)
    await eventually(async () => (await base.deadLetters.list()).length === 1, 'the redelivered event dead-lettered')
    expect(bus.metrics().totals.deadLettered).toBe(1)
    await bus.close()
  })

  it('reports metrics as plain JSON with counts, rates and latency percentiles per type', async () => {
    const bus = newBus()
    const E = defineEvent('m.event', z.object({ n: z.number() }))
    let handled = 0
    await bus.subscribe(E, () => {
      handled++
    })
    await bus.publishBatch(
      E,
      Array.from({ length: 10 }, (_, n) => ({ n })),
    )
    await eventually(() => handled === 10, 'handled')
    const m = JSON.parse(JSON.stringify(bus.metrics()))
    expect(m.transport).toBe('memory')
    expect(m.totals).toMatchObject({ published: 10, delivered: 10, acked: 10, retried: 0, deadLettered: 0 })
    expect(m.byType['m.event'].handlerMs.count).toBe(10)
    expect(m.byType['m.event'].endToEndMs.p99).toBeGreaterThanOrEqual(0)
    expect(m.rates.publishedPerSec).toBeGreaterThan(0)
    expect(m.errorRate).toBe(0)
    expect(m.byGroup['signalsloop-api']).toEqual({
      patterns: ['m.event'],
      delivered: 10,
      acked: 10,
      retried: 0,
      deadLettered: 0,
      lag: 0,
    })
    await bus.close()
  })

  it('rejects a bus without a transport or source with a ConfigError saying what to pass', () => {
    expect(() => createBus({ source: 'x' } as never)).toThrow(/transport must implement/)
    expect(() => createBus({ transport: memoryTransport(), source: '' })).toThrow(/source must name/)
  })
})
