import {
  type Capabilities,
  ConfigError,
  createBus,
  createBusFromEnv,
  type Delivery,
  defineEvent,
  type Envelope,
  formatRoutes,
  MEMORY_CAPABILITIES,
  memoryTransport,
  newEventId,
  parseRoutes,
  patternCovers,
  patternIntersection,
  routedTransport,
  type TierAdapter,
  TierbusError,
  type Transport,
  transportFromEnv,
} from '@tierbus/core'
import { eventually, quietPeriod } from '@tierbus/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'

const Item = z.object({ n: z.number() })
const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.()
})

/** A memory tier that declares other capabilities (how a real tier with fewer abilities looks to the router). */
function tierWith(name: string, overrides: Partial<Capabilities>): Transport & { published: string[] } {
  const inner = memoryTransport()
  const published: string[] = []
  return {
    name,
    capabilities: Object.freeze({ ...MEMORY_CAPABILITIES, ...overrides }),
    published,
    publish: async (batch) => {
      published.push(...batch.map((e) => e.type))
      await inner.publish(batch)
    },
    subscribe: (spec, onBatch) => inner.subscribe(spec, onBatch),
    close: () => inner.close(),
    deadLetters: inner.deadLetters,
  }
}

function envelope(type: string, n: number): Envelope {
  return {
    specversion: '1.0',
    id: newEventId(),
    source: 'test',
    type,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data: { n },
  }
}

/** Three tiers: coordination, work, and a catch-all; the router over them, closed after the test. */
function threeTiers() {
  const coord = tierWith('coord-tier', { delay: false })
  const work = tierWith('work-tier', { ordering: 'none', replay: false })
  const rest = tierWith('rest-tier', {})
  const router = routedTransport({
    routes: [
      { match: 'coord.>', transport: coord },
      { match: 'work.>', transport: work },
      { match: '>', transport: rest },
    ],
  })
  cleanups.push(() => router.close())
  return { coord, work, rest, router }
}

describe('pattern algebra', () => {
  it('tells whether one pattern covers another', () => {
    expect(patternCovers('a.>', 'a.b.>')).toBe(true)
    expect(patternCovers('a.>', 'a')).toBe(false)
    expect(patternCovers('a.*', 'a.>')).toBe(false)
    expect(patternCovers('*.b', 'a.b')).toBe(true)
    expect(patternCovers('a.b', 'a.*')).toBe(false)
    expect(patternCovers('a.*.c', 'a.*.c')).toBe(true)
    // A wildcard first token never matches tierbus-internal types.
    expect(patternCovers('>', '_inbox.>')).toBe(false)
    expect(patternCovers('_inbox.>', '_inbox.0123456789abcdef')).toBe(true)
  })

  it('intersects two patterns into the pattern of the types both match', () => {
    expect(patternIntersection('work.>', '*.nlp.*')).toBe('work.nlp.*')
    expect(patternIntersection('>', 'coord.>')).toBe('coord.>')
    expect(patternIntersection('coord.>', 'work.>')).toBeUndefined()
    expect(patternIntersection('a.>', 'a')).toBeUndefined()
    expect(patternIntersection('a.*', 'a.b.c')).toBeUndefined()
    expect(patternIntersection('agent.*.heartbeat', 'agent.a1.>')).toBe('agent.a1.heartbeat')
    expect(patternIntersection('>', '_inbox.0123456789abcdef')).toBeUndefined()
  })
})

describe('TIERBUS_ROUTES format', () => {
  it('parses pattern=tier entries (a migration as a tier too) and formats them back unchanged', () => {
    const text = 'coord.>=nats;work.>=postgres->sqs;>=redis'
    const routes = parseRoutes(text)
    expect(routes).toEqual([
      { match: 'coord.>', tier: 'nats' },
      { match: 'work.>', tier: 'postgres->sqs' },
      { match: '>', tier: 'redis' },
    ])
    expect(formatRoutes(routes)).toBe(text)
    expect(parseRoutes(' coord.> = nats ; > = redis ')).toEqual([
      { match: 'coord.>', tier: 'nats' },
      { match: '>', tier: 'redis' },
    ])
  })

  it.each([
    ['', /TIERBUS_ROUTES is empty/],
    ['coord.>=nats;', /entry 2: it is empty \(a stray ';'\?\)/],
    ['coord.>', /entry 1: it has no '='/],
    ['coord.>>=nats', /entry 1: the pattern is not valid/],
    ['coord.>=Nats', /entry 1 does not name a tier/],
    ['work.>=sqs->sqs', /entry 1 migrates sqs to itself/],
    ['>=redis;coord.>=nats', /entry 2 \("coord\.>"\) is never used: entry 1 \(">"\) already matches/],
    ['a.b=redis;a.b=nats', /entry 2 \("a\.b"\) is never used/],
  ])('refuses %j with a ConfigError saying what to fix', (text, message) => {
    const err = (() => {
      try {
        parseRoutes(text)
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toMatch(message)
  })

  it('never echoes a tier value, which may be a URL with a password pasted into the wrong place', () => {
    const err = (() => {
      try {
        parseRoutes('>=redis://admin:hunter2@cache:6379')
      } catch (e) {
        return e as Error
      }
    })()
    expect(err).toBeInstanceOf(ConfigError)
    expect(err?.message).not.toContain('hunter2')
    expect(err?.message).not.toContain('cache:6379')
  })
})

describe('routedTransport', () => {
  it('publishes each event to the first route that matches, splitting a batch by tier in order', async () => {
    const { coord, work, rest, router } = threeTiers()
    await router.publish(
      ['coord.lock', 'work.nlp.a', 'coord.vote', 'agent.a1.status', 'work.nlp.b'].map((t, n) => envelope(t, n)),
    )
    expect(coord.published).toEqual(['coord.lock', 'coord.vote'])
    expect(work.published).toEqual(['work.nlp.a', 'work.nlp.b'])
    expect(rest.published).toEqual(['agent.a1.status'])
  })

  it('refuses a whole batch with a ConfigError when one type has no route, publishing none of it', async () => {
    const coord = tierWith('coord-tier', {})
    const router = routedTransport({ routes: [{ match: 'coord.>', transport: coord }] })
    cleanups.push(() => router.close())
    const err = await router.publish([envelope('coord.lock', 1), envelope('work.x', 2)]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toMatch(
      /no route for event type 'work\.x' \(routes: coord\.>\): add a route .* catch-all '>'/,
    )
    expect(coord.published).toEqual([])
    const bus = createBus({ transport: router, source: 'test' })
    await expect(bus.subscribe('work.>', () => {})).rejects.toThrow(/no route reaches pattern 'work\.>'/)
  })

  it('refuses a route table with a route that can never match', () => {
    const t = memoryTransport()
    expect(() =>
      routedTransport({
        routes: [
          { match: '>', transport: t },
          { match: 'coord.>', transport: t },
        ],
      }),
    ).toThrow(/route 2 \("coord\.>"\) is never used: route 1 \(">"\)/)
    expect(() => routedTransport({ routes: [] })).toThrow(ConfigError)
  })

  it('declares the intersection of all routes, and per pattern the intersection of the routes it touches', async () => {
    const { router } = threeTiers()
    expect(router.capabilities).toEqual({ ...MEMORY_CAPABILITIES, delay: false, ordering: 'none', replay: false })
    expect(router.capabilitiesFor('coord.>')).toEqual({ ...MEMORY_CAPABILITIES, delay: false })
    expect(router.capabilitiesFor('agent.*.status')).toEqual(MEMORY_CAPABILITIES)
    // `*.nlp` can be coord.nlp, work.nlp or agent.nlp: it reaches all three routes.
    expect(router.capabilitiesFor('coord.nlp')).toEqual({ ...MEMORY_CAPABILITIES, delay: false })
    expect(router.capabilitiesFor('*.nlp')).toEqual(router.capabilities)

    const bus = createBus({ transport: router, source: 'test' })
    // ordered and replay are checked against the routes the pattern reaches, not the weakest tier overall.
    await bus.subscribe('agent.>', () => {}, { ordered: true, startFrom: 'earliest' })
    await expect(bus.subscribe('work.>', () => {}, { ordered: true })).rejects.toThrow(
      /does not keep per-key order.*routes all go to tiers/,
    )
    await expect(bus.subscribe('>', () => {}, { startFrom: 'earliest' })).rejects.toThrow(/cannot replay/)
    // delayMs is checked against the route of the published type.
    await bus.publish(defineEvent('agent.a1.status', Item), { n: 1 }, { delayMs: 10 })
    await expect(bus.publish(defineEvent('coord.lock', Item), { n: 1 }, { delayMs: 10 })).rejects.toThrow(
      /does not support delayed delivery/,
    )
  })

  it('feeds a pattern that spans routes from every tier, one onBatch at a time, maxInFlight across all', async () => {
    const { router } = threeTiers()
    let active = 0
    let maxActive = 0
    let unsettled = 0
    let maxUnsettled = 0
    const got: string[] = []
    const sub = await router.subscribe(
      {
        pattern: '>',
        group: 'g',
        startFrom: 'latest',
        maxInFlight: 3,
        leaseMs: 30_000,
        maxAttempts: 3,
        ordered: false,
        ephemeral: false,
      },
      async (batch: Delivery[]) => {
        maxActive = Math.max(maxActive, ++active)
        unsettled += batch.length
        maxUnsettled = Math.max(maxUnsettled, unsettled)
        await quietPeriod(5)
        active--
        for (const d of batch) {
          setTimeout(() => {
            unsettled--
            got.push(d.envelope?.type ?? '?')
            void d.ack()
          }, 10)
        }
      },
    )
    cleanups.push(() => sub.close())
    const types = Array.from({ length: 30 }, (_, n) => ['coord.x', 'work.y', 'agent.z'][n % 3] ?? 'agent.z')
    await router.publish(types.map((t, n) => envelope(t, n)))
    await eventually(
      () => got.length === 30,
      () => `30 settled, got ${got.length}`,
    )
    expect(maxActive).toBe(1)
    expect(maxUnsettled).toBeLessThanOrEqual(3)
    expect(got.filter((t) => t === 'coord.x')).toHaveLength(10)
    expect(got.filter((t) => t === 'work.y')).toHaveLength(10)
  })

  it('answers request-reply across routes: the request on its route, the reply on the first route', async () => {
    const { coord, work, router } = threeTiers()
    const Ask = defineEvent('work.nlp.ask', z.object({ text: z.string() }), { reply: z.object({ len: z.number() }) })
    const bus = createBus({ transport: router, source: 'test' })
    await bus.subscribe(Ask, (e) => ({ len: e.data.text.length }))
    expect(await bus.request(Ask, { text: 'hello' })).toEqual({ len: 5 })
    expect(work.published).toEqual(['work.nlp.ask'])
    expect(coord.published).toHaveLength(1)
    expect(coord.published[0]).toMatch(/^_inbox\.[0-9a-f]{16}$/)
  })

  it('sends request-reply inboxes to a route that names them', async () => {
    const { coord, rest } = threeTiers()
    const inboxes = tierWith('inbox-tier', {})
    const router = routedTransport({
      routes: [
        { match: 'coord.>', transport: coord },
        { match: '_inbox.>', transport: inboxes },
        { match: '>', transport: rest },
      ],
    })
    const Ask = defineEvent('coord.ask', z.object({}), { reply: z.object({ ok: z.boolean() }) })
    const bus = createBus({ transport: router, source: 'test' })
    cleanups.push(() => bus.close())
    await bus.subscribe(Ask, () => ({ ok: true }))
    expect(await bus.request(Ask, {})).toEqual({ ok: true })
    expect(inboxes.published).toHaveLength(1)
    expect(coord.published).toEqual(['coord.ask'])
  })

  it('lists, redrives and purges the dead letters of every tier as one store', async () => {
    const { router } = threeTiers()
    const bus = createBus({ transport: router, source: 'test', retry: { attempts: 1 }, onError: () => {} })
    await bus.subscribe(
      '>',
      () => {
        throw new Error('no')
      },
      { group: 'failing' },
    )
    await bus.publish(defineEvent('coord.a', Item), { n: 1 })
    await bus.publish(defineEvent('work.b', Item), { n: 2 })
    await eventually(async () => (await router.deadLetters?.list())?.length === 2, 'two dead letters')
    const letters = (await router.deadLetters?.list()) ?? []
    expect(letters.map((d) => d.id.split(':')[0]).sort()).toEqual(['coord-tier', 'work-tier'])
    expect(await router.deadLetters?.purge(letters.map((d) => d.id))).toBe(2)
    expect(await router.deadLetters?.list()).toEqual([])
  })

  it('closes every tier once, and refuses publish after close with a TierbusError', async () => {
    const a = memoryTransport()
    let closes = 0
    const counted: Transport = { ...tierWith('b', {}), close: async () => void closes++ }
    const router = routedTransport({
      routes: [
        { match: 'a.>', transport: a },
        { match: 'b.>', transport: counted },
        { match: '>', transport: counted },
      ],
    })
    await router.close()
    await router.close()
    expect(closes).toBe(1)
    await expect(router.publish([envelope('a.x', 1)])).rejects.toBeInstanceOf(TierbusError)
  })
})

describe('TIERBUS_ROUTES from the environment', () => {
  const tierAdapter = (kind: string, built: string[]): TierAdapter => ({
    kind,
    install: 'test',
    async create(env) {
      built.push(`${kind}:${env.TIERBUS_TRANSPORT}:${env.TIERBUS_ROUTES ?? '-'}`)
      return tierWith(kind, {})
    },
  })

  it('builds each distinct tier once from its own variables and routes between them', async () => {
    const built: string[] = []
    const bus = await createBusFromEnv({
      env: { TIERBUS_ROUTES: 'coord.>=fast;work.>=durable;>=fast', TIERBUS_SOURCE: 'app' },
      adapters: [tierAdapter('fast', built), tierAdapter('durable', built)],
    })
    cleanups.push(() => bus.close())
    expect(built).toEqual(['fast:fast:-', 'durable:durable:-'])
    expect(bus.transport.name).toBe('routed(fast+durable)')
    const got: string[] = []
    await bus.subscribe('>', (e) => void got.push(e.type))
    await bus.publish(defineEvent('work.a', Item), { n: 1 })
    await bus.publish(defineEvent('coord.b', Item), { n: 2 })
    await eventually(() => got.length === 2, 'both events')
  })

  it('refuses TIERBUS_ROUTES next to TIERBUS_TRANSPORT or TIERBUS_MIGRATION, and an unknown tier', async () => {
    await expect(transportFromEnv({ TIERBUS_ROUTES: '>=memory', TIERBUS_TRANSPORT: 'memory' })).rejects.toThrow(
      /TIERBUS_TRANSPORT and TIERBUS_ROUTES are both set.*unset TIERBUS_TRANSPORT/,
    )
    await expect(transportFromEnv({ TIERBUS_ROUTES: '>=memory', TIERBUS_MIGRATION: 'postgres->sqs' })).rejects.toThrow(
      /TIERBUS_MIGRATION and TIERBUS_ROUTES are both set.*work\.>=postgres->sqs/,
    )
    const err = await transportFromEnv({ TIERBUS_ROUTES: 'a.>=memory;>=kafka' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toMatch(/no adapter for 'kafka'/)
  })
})
