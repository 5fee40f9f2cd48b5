import { request as httpRequest } from 'node:http'
import { type Bus, ConfigError, createBus, defineEvent, memoryTransport } from '@tierbus/core'
import { eventually } from '@tierbus/core/testing'
import {
  bearer,
  PUBLIC_UNAUTHENTICATED,
  RESYNC_EVENT,
  type StreamMessage,
  type StreamRoute,
  type StreamRouteOptions,
  streamRoute,
} from '@tierbus/next'
import { EventSource } from 'eventsource'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { z } from 'zod'
import { serveWeb, type WebServer } from './fixtures/web-server.js'

const OrderPlaced = defineEvent('order.placed', z.object({ user: z.string(), n: z.number().int() }))
const OrderShipped = defineEvent('order.shipped', z.object({ user: z.string(), n: z.number().int() }))
const UserSignedUp = defineEvent('user.signed-up', z.object({ user: z.string() }))

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.()
})

function newBus(): Bus {
  const bus = createBus({
    transport: memoryTransport(),
    source: 'shop/web',
    events: [OrderPlaced, OrderShipped, UserSignedUp],
  })
  cleanups.push(() => bus.close())
  return bus
}

/** A stream route served by a real Node HTTP server. */
async function serveStream(
  options: Omit<StreamRouteOptions, 'authorize'> & Partial<Pick<StreamRouteOptions, 'authorize'>>,
): Promise<{ route: StreamRoute; server: WebServer }> {
  const route = streamRoute({ authorize: PUBLIC_UNAUTHENTICATED, ...options })
  const server = await serveWeb(route)
  cleanups.push(
    () => server.close(),
    () => route.close(),
  )
  return { route, server }
}

interface Client {
  readonly messages: StreamMessage[]
  /** Named events (`event:` set), e.g. the resync notice. */
  readonly named: Array<{ type: string; data: string; lastEventId: string }>
  close(): void
}

/** A browser-like EventSource (the `eventsource` package, a WHATWG implementation); resolves once open. */
async function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const es = new EventSource(url, {
    fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, ...headers } }),
  })
  cleanups.push(() => es.close())
  const client: Client = { messages: [], named: [], close: () => es.close() }
  es.onmessage = (e) => client.messages.push(JSON.parse(e.data) as StreamMessage)
  es.addEventListener(RESYNC_EVENT, (e) =>
    client.named.push({ type: e.type, data: e.data, lastEventId: e.lastEventId }),
  )
  await new Promise<void>((resolve, reject) => {
    es.onopen = () => resolve()
    es.onerror = (e) => {
      es.close()
      reject(Object.assign(new Error(`EventSource failed: ${e.message ?? ''}`), { code: e.code }))
    }
  })
  es.onerror = null
  return client
}

describe('streamRoute', () => {
  it('sends the chosen event types as SSE messages (id = event id) and nothing else', async () => {
    const bus = newBus()
    const { server } = await serveStream({ bus, events: ['order.*'] })
    const client = await connect(server.url)
    const placed = await bus.publish(OrderPlaced, { user: 'ann', n: 1 })
    await bus.publish(UserSignedUp, { user: 'bob' })
    const shipped = await bus.publish(OrderShipped, { user: 'ann', n: 1 }, { key: 'order-1' })
    await eventually(() => client.messages.length === 2, 'two order events')
    expect(client.messages).toEqual([
      { id: placed.id, type: 'order.placed', time: placed.time, data: { user: 'ann', n: 1 } },
      { id: shipped.id, type: 'order.shipped', time: shipped.time, subject: 'order-1', data: { user: 'ann', n: 1 } },
    ])
  })

  it('fans one bus subscription out to every connection (no consumer group per browser)', async () => {
    const bus = newBus()
    const subscribe = vi.spyOn(bus, 'subscribe')
    const { server, route } = await serveStream({ bus, events: [OrderPlaced] })
    const clients = await Promise.all(Array.from({ length: 5 }, () => connect(server.url)))
    await bus.publish(OrderPlaced, { user: 'ann', n: 1 })
    await eventually(() => clients.every((c) => c.messages.length === 1), 'the event on all 5 connections')
    expect(subscribe).toHaveBeenCalledTimes(1)
    expect(route.stats()).toMatchObject({ connections: 5, received: 1 })
  })

  it('applies the per-connection filter with the request (sync and async)', async () => {
    const bus = newBus()
    const userOf = (request: Request) => new URL(request.url).searchParams.get('user')
    const sync = await serveStream({
      bus,
      events: ['order.*'],
      group: 'sync',
      filter: (event, request) => (event.data as { user: string }).user === userOf(request),
    })
    const asyncRoute = await serveStream({
      bus,
      events: ['order.*'],
      group: 'async',
      filter: async (event, request) => (event.data as { user: string }).user === userOf(request),
    })
    const ann = await connect(`${sync.server.url}/?user=ann`)
    const bob = await connect(`${asyncRoute.server.url}/?user=bob`)
    await bus.publishBatch(OrderPlaced, [
      { user: 'ann', n: 1 },
      { user: 'bob', n: 2 },
      { user: 'ann', n: 3 },
      { user: 'bob', n: 4 },
    ])
    await eventually(() => ann.messages.length === 2 && bob.messages.length === 2, 'each user’s two orders')
    expect(ann.messages.map((m) => m.data)).toEqual([
      { user: 'ann', n: 1 },
      { user: 'ann', n: 3 },
    ])
    expect(bob.messages.map((m) => m.data)).toEqual([
      { user: 'bob', n: 2 },
      { user: 'bob', n: 4 },
    ])
  })

  it('skips an event whose filter throws, reports the error, and keeps the connection', async () => {
    const bus = newBus()
    const errors: unknown[] = []
    const filter = (event: { data: unknown }) => {
      if ((event.data as { n: number }).n === 2) throw new Error('filter bug')
      return true
    }
    const { server, route } = await serveStream({
      bus,
      events: ['order.*'],
      filter,
      onError: (err) => errors.push(err),
    })
    const client = await connect(server.url)
    await bus.publishBatch(
      OrderPlaced,
      [1, 2, 3].map((n) => ({ user: 'ann', n })),
    )
    await eventually(() => client.messages.length === 2, 'events 1 and 3')
    expect(client.messages.map((m) => (m.data as { n: number }).n)).toEqual([1, 3])
    expect(errors).toEqual([new Error('filter bug')])
    expect(route.stats().connections).toBe(1)
  })

  it('refuses a browser that authorize rejects (401) and requires authorize at creation', async () => {
    const bus = newBus()
    const { server, route } = await serveStream({ bus, events: ['order.*'], authorize: bearer('viewer-token') })
    const refused = await connect(server.url).catch((err: { code?: number }) => err)
    expect(refused).toMatchObject({ code: 401 })
    await connect(server.url, { authorization: 'Bearer viewer-token' })
    expect(route.stats().connections).toBe(1)
    expect(() => streamRoute({ bus, events: ['order.*'] } as unknown as StreamRouteOptions)).toThrow(ConfigError)
  })

  it('resumes from Last-Event-ID with the events missed meanwhile, and sends a resync when it cannot', async () => {
    const bus = newBus()
    const { server, route } = await serveStream({ bus, events: ['order.*'], resumeBuffer: 5 })
    const first = await connect(server.url)
    await bus.publishBatch(
      OrderPlaced,
      [1, 2].map((n) => ({ user: 'ann', n })),
    )
    await eventually(() => first.messages.length === 2, 'two events')
    first.close()
    await eventually(() => route.stats().connections === 0, 'the first connection gone')
    await bus.publishBatch(
      OrderPlaced,
      [3, 4].map((n) => ({ user: 'ann', n })),
    )

    const again = await connect(server.url, { 'last-event-id': first.messages[1]?.id ?? '' })
    await bus.publish(OrderPlaced, { user: 'ann', n: 5 })
    await eventually(() => again.messages.length === 3, 'the two missed events and the live one')
    expect(again.messages.map((m) => (m.data as { n: number }).n)).toEqual([3, 4, 5])
    expect(route.stats()).toMatchObject({ resumed: 1, resyncs: 0 })

    // Events 1 and 2 have left the 5-event buffer: resuming after 1 is no longer possible without a gap.
    await bus.publishBatch(
      OrderPlaced,
      [6, 7].map((n) => ({ user: 'ann', n })),
    )
    await eventually(() => again.messages.length === 5, 'events 6 and 7')
    const late = await connect(server.url, { 'last-event-id': first.messages[0]?.id ?? '' })
    await eventually(() => late.named.length === 1, 'the resync notice')
    expect(late.named[0]).toEqual({
      type: RESYNC_EVENT,
      data: JSON.stringify({ lastEventId: first.messages[0]?.id }),
      lastEventId: again.messages[4]?.id,
    })
    await bus.publish(OrderPlaced, { user: 'ann', n: 8 })
    await eventually(() => late.messages.length === 1, 'live events after the resync')
    expect(late.messages[0]?.data).toEqual({ user: 'ann', n: 8 })
    expect(route.stats()).toMatchObject({ resumed: 1, resyncs: 1 })
  })

  it('sends heartbeat comments while idle', async () => {
    const bus = newBus()
    const { server } = await serveStream({ bus, events: ['order.*'], heartbeatMs: 50 })
    const res = await fetch(server.url)
    const reader = (res.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader()
    cleanups.push(() => reader.cancel())
    let text = ''
    while ((text.match(/: heartbeat\n\n/g) ?? []).length < 2) text += (await reader.read()).value ?? ''
    expect(text.startsWith('retry: 3000\n\n')).toBe(true)
  })

  it('drops a client that stops reading once its backlog passes maxBufferedBytes; others keep receiving', async () => {
    const bus = newBus()
    const { server, route } = await serveStream({ bus, events: ['order.*'], maxBufferedBytes: 256 * 1024 })
    const healthy = await connect(server.url)
    // A client that reads the headers, then nothing: the socket's buffers fill, then the route's backlog.
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(server.url, (res) => {
        res.pause()
        resolve()
      })
      req.on('error', reject).end()
      cleanups.push(() => req.destroy())
    })
    await eventually(() => route.stats().connections === 2, 'both connected')
    // Batches the healthy client can take in stride (192 KB, under the 256 KB limit), each once it has the last:
    // the stalled one's socket buffers fill, then its backlog passes the limit.
    const Big = defineEvent('order.bulk', z.object({ pad: z.string() }))
    const pad = 'x'.repeat(4 * 1024)
    let sent = 0
    const deadline = Date.now() + 60_000
    while (route.stats().dropped === 0) {
      if (Date.now() > deadline)
        throw new Error(`the stalled client was not dropped after ${sent} events: ${JSON.stringify(route.stats())}`)
      await bus.publishBatch(
        Big,
        Array.from({ length: 48 }, () => ({ pad })),
      )
      sent += 48
      await eventually(() => healthy.messages.length === sent, 'the healthy client keeping up')
    }
    await bus.publish(OrderPlaced, { user: 'ann', n: 1 })
    await eventually(() => healthy.messages.length === sent + 1, 'the healthy client still receiving')
    expect(route.stats()).toMatchObject({ connections: 1, dropped: 1 })
  }, 90_000)

  it('removes a connection when the browser goes away and stops the heartbeat with the last one', async () => {
    const bus = newBus()
    const { server, route } = await serveStream({ bus, events: ['order.*'], heartbeatMs: 20 })
    const aborts = [new AbortController(), new AbortController()]
    await Promise.all(aborts.map((a) => fetch(server.url, { signal: a.signal })))
    await eventually(() => route.stats().connections === 2, 'two connections')
    const timers = vi.spyOn(globalThis, 'clearInterval')
    aborts[0]?.abort()
    await eventually(() => route.stats().connections === 1, 'one left')
    expect(timers).not.toHaveBeenCalled()
    aborts[1]?.abort()
    await eventually(() => route.stats().connections === 0, 'none left')
    expect(timers).toHaveBeenCalledTimes(1)
    timers.mockRestore()
    // The subscription stays (the resume buffer keeps filling), and a new connection gets live events.
    await bus.publish(OrderPlaced, { user: 'ann', n: 1 })
    await eventually(() => route.stats().received === 1, 'received with nobody connected')
    const client = await connect(server.url)
    await bus.publish(OrderPlaced, { user: 'ann', n: 2 })
    await eventually(() => client.messages.length === 1, 'live event')
  })
})
