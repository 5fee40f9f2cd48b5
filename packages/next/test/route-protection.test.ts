import { type Bus, ConfigError, createBus, defineEvent, memoryTransport, TransportError } from '@tierbus/core'
import { eventually } from '@tierbus/core/testing'
import {
  type Authorize,
  bearer,
  deadLetterRoutes,
  drainRoute,
  metricsRoute,
  PUBLIC_UNAUTHENTICATED,
} from '@tierbus/next'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'

// biome-ignore lint/suspicious/noExplicitAny: a JSON body the assertions reach into field by field (toEqual checks its shape)
const read = async (res: Response): Promise<any> => res.json()

const OrderPlaced = defineEvent('order.placed', z.object({ orderId: z.string(), email: z.string() }))
const APP = 'https://shop.example'
const buses: Bus[] = []
afterEach(async () => {
  while (buses.length) await buses.pop()!.close()
})

/** A bus holding one dead letter (its payload carries personal data, as real ones do). */
async function busWithDeadLetter(): Promise<Bus> {
  const bus = createBus({ transport: memoryTransport(), source: 'shop', retry: { attempts: 1 }, onError: () => {} })
  buses.push(bus)
  await bus.subscribe(
    OrderPlaced,
    () => {
      throw new Error('mailer down')
    },
    { group: 'mailer' },
  )
  await bus.publish(OrderPlaced, { orderId: 'o1', email: 'ann@example.com' })
  await eventually(async () => (await bus.deadLetters.list()).length === 1, 'the dead letter')
  return bus
}

/** A cookie-session check, the setup CSRF attacks: the browser attaches the cookie to cross-site requests. */
const cookieSession: Authorize = (request) => request.headers.get('cookie') === 'session=admin'

const request = (path: string, init: RequestInit = {}) => new Request(`${APP}${path}`, init)

describe('route protection', () => {
  it('refuses every route without credentials (401) and serves it with them', async () => {
    const bus = await busWithDeadLetter()
    const authorize = bearer('admin-token')
    const dlq = deadLetterRoutes({ bus, authorize })
    const metrics = metricsRoute({ bus, authorize })
    const drain = drainRoute({ bus, authorize, idleMs: 10, budgetMs: 500, subscribe: async () => [] })
    const json = { 'content-type': 'application/json' }
    const calls: Array<[string, (r: Request) => Promise<Response>, RequestInit]> = [
      ['GET /dlq', dlq.GET, {}],
      ['POST /dlq', dlq.POST, { method: 'POST', headers: json, body: '{"ids":[]}' }],
      ['DELETE /dlq', dlq.DELETE, { method: 'DELETE', headers: json, body: '{"ids":[]}' }],
      ['GET /metrics', metrics, {}],
      ['POST /drain', drain, { method: 'POST', headers: json }],
    ]
    for (const [name, handler, init] of calls) {
      const denied = await handler(request('/api', init))
      expect(denied.status, name).toBe(401)
      expect(await read(denied), name).toEqual({ error: 'unauthorized', code: 'UNAUTHORIZED' })
      const wrong = await handler(
        request('/api', {
          ...init,
          headers: { ...(init.headers as Record<string, string>), authorization: 'Bearer admin-tokem' },
        }),
      )
      expect(wrong.status, name).toBe(401)
      const allowed = await handler(
        request('/api', {
          ...init,
          headers: { ...(init.headers as Record<string, string>), authorization: 'Bearer admin-token' },
        }),
      )
      expect(allowed.status, name).toBe(200)
    }
    // Nothing the refused calls asked for happened: the dead letter is still there.
    expect(await bus.deadLetters.list()).toHaveLength(1)
  })

  it('throws a ConfigError at creation when a route has neither authorize nor the public opt-out', () => {
    const bus = createBus({ transport: memoryTransport(), source: 'shop' })
    buses.push(bus)
    // biome-ignore lint/suspicious/noExplicitAny: stands for an untyped (JavaScript) caller that omits authorize
    const open = { bus } as any
    expect(() => metricsRoute(open)).toThrow(ConfigError)
    expect(() => deadLetterRoutes(open)).toThrow(/pass authorize .*PUBLIC_UNAUTHENTICATED/)
    expect(() => drainRoute({ ...open, subscribe: async () => [] })).toThrow(ConfigError)
    expect(() => metricsRoute({ bus, authorize: 'public' as never })).toThrow(ConfigError)
    expect(() => bearer(undefined)).toThrow(ConfigError)
  })

  it('serves a route opened with PUBLIC_UNAUTHENTICATED to anyone', async () => {
    const bus = await busWithDeadLetter()
    const res = await deadLetterRoutes({ bus, authorize: PUBLIC_UNAUTHENTICATED }).GET(request('/api/events/dlq'))
    expect(res.status).toBe(200)
    expect((await read(res)).deadLetters).toHaveLength(1)
  })

  it('refuses a cookie-authorised cross-site text/plain redrive (415) and moves nothing', async () => {
    const bus = await busWithDeadLetter()
    const [dead] = await bus.deadLetters.list()
    const dlq = deadLetterRoutes({ bus, authorize: cookieSession })
    // What <form enctype="text/plain"> or fetch(..., { mode: 'no-cors' }) on evil.example sends.
    const forged = {
      cookie: 'session=admin',
      origin: 'https://evil.example',
      'sec-fetch-site': 'cross-site',
      'content-type': 'text/plain',
    }
    for (const method of ['POST', 'DELETE']) {
      const res = await dlq[method as 'POST' | 'DELETE'](
        request('/api/events/dlq', { method, headers: forged, body: JSON.stringify({ ids: [dead!.id] }) }),
      )
      expect(res.status).toBe(415)
      expect((await read(res)).code).toBe('UNSUPPORTED_MEDIA_TYPE')
    }
    const noType = await dlq.POST(
      request('/api/events/dlq', {
        method: 'POST',
        headers: { cookie: 'session=admin' },
        body: JSON.stringify({ ids: [dead!.id] }),
      }),
    )
    expect(noType.status).toBe(415)
    expect((await bus.deadLetters.list()).map((d) => d.id)).toEqual([dead!.id])
  })

  it('refuses cross-origin JSON requests (403) by Origin or Sec-Fetch-Site, and accepts same-origin and allowed origins', async () => {
    const bus = await busWithDeadLetter()
    const [dead] = await bus.deadLetters.list()
    const body = JSON.stringify({ ids: [dead!.id] })
    const dlq = deadLetterRoutes({ bus, authorize: cookieSession, allowedOrigins: ['https://admin.example'] })
    const json = { cookie: 'session=admin', 'content-type': 'application/json' }
    const drain = drainRoute({ bus, authorize: cookieSession, idleMs: 10, budgetMs: 500, subscribe: async () => [] })
    for (const headers of [
      { ...json, origin: 'https://evil.example' },
      { ...json, origin: 'https://shop.example.evil.example' },
      { ...json, origin: 'null' },
      { ...json, 'sec-fetch-site': 'cross-site' },
      { ...json, 'sec-fetch-site': 'same-site' },
    ]) {
      const res = await dlq.DELETE(request('/api/events/dlq', { method: 'DELETE', headers, body }))
      expect(res.status, JSON.stringify(headers)).toBe(403)
      expect(await read(res)).toEqual({ error: 'cross-site request refused', code: 'CROSS_SITE' })
      expect((await drain(request('/api/events/drain', { method: 'POST', headers }))).status).toBe(403)
    }
    expect(await bus.deadLetters.list()).toHaveLength(1)
    const sameOrigin = await dlq.POST(
      request('/api/events/dlq', {
        method: 'POST',
        headers: { ...json, origin: APP, 'sec-fetch-site': 'same-origin' },
        body,
      }),
    )
    expect(await read(sameOrigin)).toEqual({ requested: 1, redriven: 1 })
    const allowed = await dlq.DELETE(
      request('/api/events/dlq', {
        method: 'DELETE',
        headers: { ...json, origin: 'https://admin.example', 'sec-fetch-site': 'cross-site' },
        body,
      }),
    )
    expect(allowed.status).toBe(200)
  })

  it('answers a body that is not JSON with 400, not 500', async () => {
    const bus = await busWithDeadLetter()
    const dlq = deadLetterRoutes({ bus, authorize: PUBLIC_UNAUTHENTICATED })
    for (const body of ['{"ids": [', '', 'ids=1']) {
      const res = await dlq.POST(
        request('/api/events/dlq', { method: 'POST', headers: { 'content-type': 'application/json' }, body }),
      )
      expect(res.status, body).toBe(400)
      expect((await read(res)).code).toBe('BAD_REQUEST')
    }
  })

  it('puts only a code and a generic message in error bodies; the detail goes to onError', async () => {
    const secretUrl = 'nats://bus:hunter2@nats.internal:4222'
    const reported: unknown[] = []
    const onError = (err: unknown) => void reported.push(err)
    const failing = (err: Error) =>
      metricsRoute({ bus: () => Promise.reject(err), authorize: PUBLIC_UNAUTHENTICATED, onError })
    const cases: Array<[Error, number, string]> = [
      [new TransportError(`cannot connect to ${secretUrl}`), 503, 'TRANSPORT'],
      [new ConfigError(`NATS_URL=${secretUrl} is not a URL`), 500, 'CONFIG'],
      [new Error(`boom at ${secretUrl}`), 500, 'INTERNAL'],
    ]
    for (const [err, status, code] of cases) {
      const res = await failing(err)(request('/api/events/metrics'))
      expect(res.status).toBe(status)
      const text = await res.text()
      expect(JSON.parse(text)).toEqual({ code, error: expect.any(String) })
      expect(text).not.toMatch(/hunter2|nats\.internal|at .*\.ts|\n/)
    }
    expect(reported).toEqual(cases.map(([err]) => err))
    // A throwing authorize is a server error too, and fails closed.
    const broken = metricsRoute({
      bus: () => Promise.reject(new Error('unused')),
      authorize: () => {
        throw new ConfigError('set TIERBUS_ADMIN_TOKEN=s3cr3t-value')
      },
      onError,
    })
    const res = await broken(request('/api/events/metrics'))
    expect(res.status).toBe(500)
    expect(await res.text()).not.toContain('s3cr3t-value')
  })
})
