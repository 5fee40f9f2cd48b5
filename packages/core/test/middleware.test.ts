import {
  ConfigError,
  createBus,
  defineEvent,
  type Envelope,
  type HandleContext,
  type Middleware,
  memoryTransport,
  type SettleOutcome,
} from '@tierbus/core'
import { eventually, quietPeriod } from '@tierbus/core/testing'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'

const Order = defineEvent('order.placed', z.object({ orderId: z.string() }))
const Quote = defineEvent('quote.asked', z.object({ item: z.string() }), { reply: z.object({ price: z.number() }) })

/** Fast retries so retry tests take milliseconds. */
const QUICK = { backoff: { baseMs: 1, maxMs: 2 } }

function newBus(errors: unknown[] = []) {
  const transport = memoryTransport()
  const bus = createBus({ transport, source: 'shop/api', onError: (err) => void errors.push(err) })
  return { bus, transport }
}

/** A middleware that records when its hooks enter and leave. */
function tracer(name: string, log: string[]): Middleware {
  return {
    name,
    async publish(ctx, next) {
      log.push(`${name}:publish>${ctx.tier}:${ctx.envelopes.length}`)
      await next(ctx.envelopes)
      log.push(`${name}:publish<`)
    },
    async handle(_ctx, next) {
      log.push(`${name}:handle>`)
      const result = await next()
      log.push(`${name}:handle<`)
      return result
    },
  }
}

/** Records every settle outcome per event id. */
function outcomes(into: Array<[string, number, SettleOutcome]>): Middleware {
  return {
    name: 'outcomes',
    async handle(ctx, next) {
      ctx.onSettled((outcome) => into.push([(ctx.event.data as { orderId: string }).orderId, ctx.attempt, outcome]))
      return next()
    },
  }
}

describe('middleware', () => {
  it('runs bus middleware outermost-first around publish and handle, subscription middleware inside them', async () => {
    const { bus } = newBus()
    const log: string[] = []
    bus.use(tracer('a', log), tracer('b', log))
    await bus.subscribe(Order, () => void log.push('handler'), { group: 'g', middleware: [tracer('c', log)] })
    await bus.publish(Order, { orderId: 'o1' })
    await eventually(() => log.includes('a:handle<'), 'handled')
    // The memory tier delivers in a microtask, so publish and handle entries interleave: check each chain.
    expect(log.filter((l) => l.includes(':publish'))).toEqual([
      'a:publish>memory:1',
      'b:publish>memory:1',
      'b:publish<',
      'a:publish<',
    ])
    expect(log.filter((l) => !l.includes(':publish'))).toEqual([
      'a:handle>',
      'b:handle>',
      'c:handle>',
      'handler',
      'c:handle<',
      'b:handle<',
      'a:handle<',
    ])
    await bus.close()
  })

  it('hands publishBatch to publish middleware as one call with every envelope', async () => {
    const { bus } = newBus()
    const seen: number[] = []
    bus.use({
      publish: (ctx, next) => {
        seen.push(ctx.envelopes.length)
        return next(ctx.envelopes)
      },
    })
    await bus.publishBatch(Order, [{ orderId: 'o1' }, { orderId: 'o2' }, { orderId: 'o3' }])
    expect(seen).toEqual([3])
    expect(bus.metrics().totals.published).toBe(3)
    await bus.close()
  })

  it('publishes the envelopes a publish middleware passes to next, and nothing when it does not call next', async () => {
    const { bus } = newBus()
    const got: Envelope[] = []
    bus.use({
      name: 'tag-and-drop',
      async publish(ctx, next) {
        const kept = ctx.envelopes.filter((e) => (e.data as { orderId: string }).orderId !== 'drop-me')
        if (kept.length === 0) return
        await next(kept.map((e) => ({ ...e, tenant: 't1' })))
      },
    })
    await bus.subscribe(Order, (e) => void got.push(e.envelope), { group: 'g' })
    await bus.publish(Order, { orderId: 'drop-me' })
    await bus.publishBatch(Order, [{ orderId: 'o1' }, { orderId: 'drop-me' }, { orderId: 'o2' }])
    await eventually(() => got.length === 2, 'two delivered')
    await quietPeriod(50)
    expect(got.map((e) => [(e.data as { orderId: string }).orderId, e.tenant])).toEqual([
      ['o1', 't1'],
      ['o2', 't1'],
    ])
    // Metrics count what reached the tier.
    expect(bus.metrics().totals.published).toBe(2)
    await bus.close()
  })

  it('rejects the publish with what a publish middleware throws', async () => {
    const { bus } = newBus()
    bus.use({
      publish: async () => {
        throw new Error('quota exceeded')
      },
    })
    await expect(bus.publish(Order, { orderId: 'o1' })).rejects.toThrow('quota exceeded')
    expect(bus.metrics().totals.published).toBe(0)
    await bus.close()
  })

  it('treats a throw in handle middleware as a handler failure: retried, then dead-lettered with its error', async () => {
    const { bus, transport } = newBus()
    const settled: Array<[string, number, SettleOutcome]> = []
    let handlerRuns = 0
    bus.use(outcomes(settled), {
      name: 'flaky',
      async handle(ctx, next) {
        const id = (ctx.event.data as { orderId: string }).orderId
        if (id === 'poison' || ctx.attempt === 1) throw new Error(`flaky middleware on attempt ${ctx.attempt}`)
        return next()
      },
    })
    await bus.subscribe(Order, () => void handlerRuns++, { group: 'g', retry: { attempts: 3, ...QUICK } })
    await bus.publish(Order, { orderId: 'o1' })
    await bus.publish(Order, { orderId: 'poison' })
    await eventually(
      () => settled.length === 5,
      () => `settle outcomes: ${JSON.stringify(settled)}`,
    )
    expect(settled.filter(([id]) => id === 'o1')).toEqual([
      ['o1', 1, 'retried'],
      ['o1', 2, 'acked'],
    ])
    expect(settled.filter(([id]) => id === 'poison')).toEqual([
      ['poison', 1, 'retried'],
      ['poison', 2, 'retried'],
      ['poison', 3, 'dead-lettered'],
    ])
    expect(handlerRuns).toBe(1)
    const [dead] = await transport.deadLetters.list()
    expect(dead?.reason).toMatchObject({
      kind: 'handler-failed',
      attempts: 3,
      error: 'Error: flaky middleware on attempt 3',
    })
    await bus.close()
  })

  it("reports 'retried' for each in-place retry of an ordered lane, then the final outcome", async () => {
    const { bus } = newBus()
    const settled: Array<[string, number, SettleOutcome]> = []
    let runs = 0
    bus.use(outcomes(settled))
    await bus.subscribe(
      Order,
      () => {
        if (++runs < 3) throw new Error('not yet')
      },
      { group: 'g', ordered: true, retry: { attempts: 5, ...QUICK } },
    )
    await bus.publish(Order, { orderId: 'o1' }, { key: 'k1' })
    await eventually(
      () => settled.length === 3,
      () => `settle outcomes: ${JSON.stringify(settled)}`,
    )
    expect(settled).toEqual([
      ['o1', 1, 'retried'],
      ['o1', 2, 'retried'],
      ['o1', 3, 'acked'],
    ])
    await bus.close()
  })

  it('lets handle middleware skip the handler (acked) and see group, tier and attempt', async () => {
    const { bus } = newBus()
    const contexts: Array<Pick<HandleContext, 'group' | 'tier' | 'attempt'>> = []
    const settled: SettleOutcome[] = []
    let handlerRuns = 0
    await bus.subscribe(Order, () => void handlerRuns++, {
      group: 'skipper',
      middleware: [
        {
          async handle(ctx) {
            contexts.push({ group: ctx.group, tier: ctx.tier, attempt: ctx.attempt })
            ctx.onSettled((o) => settled.push(o))
            return undefined
          },
        },
      ],
    })
    await bus.publish(Order, { orderId: 'o1' })
    await eventually(() => settled.length === 1, 'settled')
    expect(contexts).toEqual([{ group: 'skipper', tier: 'memory', attempt: 1 }])
    expect(settled).toEqual(['acked'])
    expect(handlerRuns).toBe(0)
    await bus.close()
  })

  it('reports a settle listener that throws to onError and still calls the other listeners', async () => {
    const errors: unknown[] = []
    const { bus } = newBus(errors)
    const settled: SettleOutcome[] = []
    bus.use({
      async handle(ctx, next) {
        ctx.onSettled(() => {
          throw new Error('listener bug')
        })
        ctx.onSettled((o) => settled.push(o))
        return next()
      },
    })
    await bus.subscribe(Order, () => {}, { group: 'g' })
    await bus.publish(Order, { orderId: 'o1' })
    await eventually(() => settled.length === 1, 'second listener called')
    expect(errors).toEqual([new Error('listener bug')])
    await bus.close()
  })

  it('applies subscription middleware to that subscription only', async () => {
    const { bus } = newBus()
    const wrapped: string[] = []
    const handled: string[] = []
    const mark: Middleware = {
      handle: (ctx, next) => {
        wrapped.push(ctx.group)
        return next()
      },
    }
    await bus.subscribe(Order, () => void handled.push('with'), { group: 'with', middleware: [mark] })
    await bus.subscribe(Order, () => void handled.push('without'), { group: 'without' })
    await bus.publish(Order, { orderId: 'o1' })
    await eventually(() => handled.length === 2, 'both groups handled')
    expect(wrapped).toEqual(['with'])
    await bus.close()
  })

  it('applies bus.use() to subscriptions made before it', async () => {
    const { bus } = newBus()
    const wrapped: number[] = []
    const handled: string[] = []
    await bus.subscribe(Order, (e) => void handled.push(e.data.orderId), { group: 'g' })
    await bus.publish(Order, { orderId: 'before' })
    await eventually(() => handled.length === 1, 'first handled')
    bus.use({
      handle: (ctx, next) => {
        wrapped.push(ctx.attempt)
        return next()
      },
    })
    await bus.publish(Order, { orderId: 'after' })
    await eventually(() => handled.length === 2, 'second handled')
    expect(wrapped).toEqual([1])
    await bus.close()
  })

  it('replies with what handle middleware returns, and passes request and reply through publish middleware', async () => {
    const { bus } = newBus()
    const published: string[] = []
    bus.use(
      {
        publish: (ctx, next) => {
          published.push(...ctx.envelopes.map((e) => (e.type.startsWith('_inbox.') ? 'reply' : e.type)))
          return next(ctx.envelopes)
        },
      },
      { handle: async (_ctx, next) => ({ price: ((await next()) as { price: number }).price * 2 }) },
    )
    await bus.subscribe(Quote, () => ({ price: 21 }), { group: 'pricing' })
    await expect(bus.request(Quote, { item: 'book' })).resolves.toEqual({ price: 42 })
    expect(published).toEqual(['quote.asked', 'reply'])
    await bus.close()
  })

  it('refuses something that is not a middleware with a ConfigError', async () => {
    const { bus } = newBus()
    expect(() => bus.use({} as Middleware)).toThrow(ConfigError)
    expect(() => bus.use({ name: 'half', handle: 'yes' } as unknown as Middleware)).toThrow(/'half'/)
    await expect(bus.subscribe(Order, () => {}, { middleware: [null as unknown as Middleware] })).rejects.toThrow(
      ConfigError,
    )
    await bus.close()
  })
})
