import type { AnyEventDefinition, Bus, BusSubscription, ReceivedEvent } from '@tierbus/core'
import { ConfigError } from '@tierbus/core'
import { EventRing, type StreamedEvent } from './event-ring.js'
import { logRouteError } from './responses.js'
import { guardedRoute, type RouteHandler, type RouteProtection } from './route-guard.js'
import { type BusSource, busOf } from './routes.js'
import { singleton } from './singleton.js'

/** Decides per connection whether an event goes to that browser (e.g. only the signed-in user's orders). */
export type StreamFilter = (event: ReceivedEvent, request: Request) => boolean | Promise<boolean>

/** Options of `streamRoute`. */
export interface StreamRouteOptions extends RouteProtection {
  /** The bus, or a function giving it (e.g. `getBus`, from `sharedBus`). */
  bus: BusSource
  /** Event definitions, types or patterns to stream (`order.placed`, `order.*`, `work.>`). */
  events: ReadonlyArray<AnyEventDefinition | string>
  /**
   * Consumer group of the route's one subscription per server process (default `tierbus-stream`). Give each
   * stream route its own; with several server instances give each instance its own (e.g. from HOSTNAME), since
   * members of one group share the events instead of each getting all of them.
   */
  group?: string
  /**
   * Runs per connection and event; only events it accepts are sent. A throw counts as "not sent" and goes to
   * `onError`.
   */
  filter?: StreamFilter
  /** Comment line sent this often so proxies keep an idle connection open (ms). */
  heartbeatMs?: number
  /** A connection whose unsent events (filter queue plus unwritten frames) exceed this many bytes is dropped. */
  maxBufferedBytes?: number
  /** Events kept in this process for `Last-Event-ID` resume (0 turns resume off). */
  resumeBuffer?: number
  /** Reconnect delay the browser is told to use (the SSE `retry:` field), ms. */
  retryMs?: number
}

/** Defaults of `streamRoute`. */
export const STREAM_DEFAULTS = Object.freeze({
  group: 'tierbus-stream',
  heartbeatMs: 15_000,
  maxBufferedBytes: 1 << 20,
  resumeBuffer: 1_000,
  retryMs: 3_000,
})

/** The SSE event a stream sends when it cannot resume from the browser's `Last-Event-ID`: reload your state. */
export const RESYNC_EVENT = 'tierbus.resync'

/** What the browser receives as each message's `data` (JSON). */
export interface StreamMessage<T = unknown> {
  /** The event id, also the SSE `id:` a reconnecting browser sends back as `Last-Event-ID`. */
  readonly id: string
  /** The event type, e.g. `order.placed`. */
  readonly type: string
  /** RFC 3339 publish time. */
  readonly time: string
  /** The ordering key the event was published with, if any. */
  readonly subject?: string
  /** The event data, checked by the bus against the event's schema where the bus knows it. */
  readonly data: T
}

/** Counters of a stream route in this process. */
export interface StreamStats {
  /** Browsers connected now. */
  readonly connections: number
  /** Events the route's subscription received. */
  readonly received: number
  /** Connections dropped because they could not keep up (`maxBufferedBytes`). */
  readonly dropped: number
  /** Reconnects resumed from the buffer without a gap. */
  readonly resumed: number
  /** Reconnects that could not resume and got a `tierbus.resync` event. */
  readonly resyncs: number
}

/** The handler `streamRoute` returns: export it as `GET`. */
export interface StreamRoute extends RouteHandler {
  /** Counters over the hubs this route serves. */
  stats(): StreamStats
  /** Ends every connection and closes the route's subscriptions (tests, shutdown). */
  close(): Promise<void>
}

const encoder = new TextEncoder()
const HEARTBEAT = encoder.encode(': heartbeat\n\n')
/** Characters that would end an SSE field early (an event id is hostile input like the rest of the message). */
const SSE_BREAK = /[\r\n\0]/
/**
 * Deliveries the route's subscription takes per fetch. Its handler is synchronous (it only queues frames), so
 * events are still handled one after another in delivery order; a large batch saves round trips on remote tiers.
 */
const FETCH_SIZE = 128
/** Longest `Last-Event-ID` looked up; tierbus ids are 36 characters. */
const MAX_LAST_EVENT_ID = 200

/**
 * GET handler serving Server-Sent Events of the chosen event types to browsers (`new EventSource(url)`).
 *
 * - One bus subscription per route and server process, in consumer group `group`, fans out to every
 *   connection; connections never create consumer groups. It starts with the first connection and stays
 *   open (so the resume buffer keeps filling) until the bus closes or `close()` is called.
 * - Each message is `id: <event id>` and `data: <StreamMessage JSON>`; browsers send the last id back as
 *   `Last-Event-ID` when they reconnect. If this process still holds that event among its last
 *   `resumeBuffer` events, the events after it are sent first (through the filter), with no gap; otherwise
 *   a `tierbus.resync` event tells the page to reload its state, then live events follow.
 * - A comment line every `heartbeatMs` keeps proxies from closing idle connections.
 * - A browser that reads slower than events arrive is disconnected once `maxBufferedBytes` are waiting for
 *   it (memory stays bounded); its EventSource reconnects and resumes from the buffer if it can.
 * - A closed connection (request aborted, stream cancelled) is removed at once.
 *
 * `authorize` is required, as on every route. Run it on the Node.js runtime (the default), not the Edge.
 */
export function streamRoute(options: StreamRouteOptions): StreamRoute {
  const settings = resolveSettings(options)
  const onError = options.onError ?? logRouteError
  const hubs = new Set<StreamHub>()
  const route = guardedRoute('streamRoute', options, async (request) => {
    const bus = await busOf(options.bus)
    const hub = hubFor(bus, settings, onError)
    await hub.subscribed()
    hubs.add(hub)
    return hub.connect(request, options.filter)
  })
  const sum = (key: keyof StreamStats) => [...hubs].reduce((n, hub) => n + hub.stats()[key], 0)
  return Object.assign(route, {
    stats: (): StreamStats => ({
      connections: sum('connections'),
      received: sum('received'),
      dropped: sum('dropped'),
      resumed: sum('resumed'),
      resyncs: sum('resyncs'),
    }),
    close: async () => {
      await Promise.all([...hubs].map((hub) => hub.close()))
      hubs.clear()
    },
  })
}

type Settings = Required<Omit<StreamRouteOptions, keyof RouteProtection | 'bus' | 'filter' | 'events'>> & {
  readonly patterns: readonly string[]
}

function resolveSettings(options: StreamRouteOptions): Settings {
  const patterns = (options.events ?? []).map((e) => (typeof e === 'string' ? e : e.type))
  if (patterns.length === 0)
    throw new ConfigError("streamRoute: pass events, the event types or patterns to stream, e.g. events: ['order.*']")
  const settings = { ...STREAM_DEFAULTS, ...definedOnly(options), patterns }
  for (const key of ['heartbeatMs', 'maxBufferedBytes', 'retryMs'] as const) {
    if (!Number.isInteger(settings[key]) || settings[key] <= 0)
      throw new ConfigError(`streamRoute: ${key} must be a positive integer, got ${settings[key]}`)
  }
  if (!Number.isInteger(settings.resumeBuffer) || settings.resumeBuffer < 0)
    throw new ConfigError(`streamRoute: resumeBuffer must be 0 or more, got ${settings.resumeBuffer}`)
  return settings
}

function definedOnly(options: StreamRouteOptions): Partial<typeof STREAM_DEFAULTS> {
  const { group, heartbeatMs, maxBufferedBytes, resumeBuffer, retryMs } = options
  return Object.fromEntries(
    Object.entries({ group, heartbeatMs, maxBufferedBytes, resumeBuffer, retryMs }).filter(([, v]) => v !== undefined),
  )
}

// Per bus, per group and patterns: Next.js hot reload re-creates the route, not the process, and a second hub
// would add a second member to the group (splitting the events) instead of reusing the first.
const registry = singleton('tierbus:streams', () => new WeakMap<Bus, Map<string, StreamHub>>())

function hubFor(bus: Bus, settings: Settings, onError: NonNullable<RouteProtection['onError']>): StreamHub {
  const hubs = registry.get(bus) ?? new Map<string, StreamHub>()
  registry.set(bus, hubs)
  const key = `${settings.group}\u0000${settings.patterns.join('\u0000')}`
  const hub = hubs.get(key) ?? new StreamHub(bus, settings, onError, () => hubs.delete(key))
  hubs.set(key, hub)
  return hub
}

/** The shared side of a stream: one subscription, the resume buffer, the heartbeat, and every connection. */
class StreamHub {
  private readonly connections = new Set<StreamConnection>()
  private readonly ring: EventRing<ReceivedEvent>
  private subscriptions: Promise<BusSubscription[]> | undefined
  private heartbeat: ReturnType<typeof setInterval> | undefined
  private readonly counts = { received: 0, dropped: 0, resumed: 0, resyncs: 0 }

  constructor(
    private readonly bus: Bus,
    private readonly settings: Settings,
    private readonly onError: NonNullable<RouteProtection['onError']>,
    private readonly forget: () => void,
  ) {
    this.ring = new EventRing(settings.resumeBuffer)
  }

  stats(): StreamStats {
    return { connections: this.connections.size, ...this.counts }
  }

  /** Subscribes once; a failed attempt is forgotten, so the next connection tries again (503 meanwhile). */
  subscribed(): Promise<BusSubscription[]> {
    this.subscriptions ??= this.subscribe().catch((err: unknown) => {
      this.subscriptions = undefined
      throw err
    })
    return this.subscriptions
  }

  private async subscribe(): Promise<BusSubscription[]> {
    const subs: BusSubscription[] = []
    try {
      for (const pattern of this.settings.patterns) {
        subs.push(
          await this.bus.subscribe(pattern, (event) => this.receive(event), {
            group: this.settings.group,
            concurrency: FETCH_SIZE,
          }),
        )
      }
      return subs
    } catch (err) {
      await Promise.allSettled(subs.map((s) => s.close()))
      throw err
    }
  }

  private receive(event: ReceivedEvent): void {
    this.counts.received++
    if (SSE_BREAK.test(event.id)) {
      this.onError(
        new Error(`streamRoute: event ${JSON.stringify(event.id)} has an id SSE cannot carry; not streamed`),
        { route: 'streamRoute', method: 'GET' },
      )
      return
    }
    const message: StreamMessage = {
      id: event.id,
      type: event.type,
      time: event.time,
      ...(event.subject === undefined ? {} : { subject: event.subject }),
      data: event.data,
    }
    const entry: StreamedEvent<ReceivedEvent> = {
      id: event.id,
      event,
      frame: encoder.encode(`id: ${event.id}\ndata: ${JSON.stringify(message)}\n\n`),
    }
    this.ring.push(entry)
    for (const connection of this.connections) connection.offer(entry)
  }

  /** Opens one browser's stream: resume (or resync) first, then live events, until it closes or is dropped. */
  connect(request: Request, filter: StreamFilter | undefined): Response {
    const lastEventId = request.headers.get('last-event-id')?.slice(0, MAX_LAST_EVENT_ID) ?? ''
    let connection: StreamConnection | undefined
    const body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          connection = new StreamConnection(controller, this.settings.maxBufferedBytes, {
            accept: filter ? (event) => filter(event, request) : undefined,
            onFilterError: (err) => this.onError(err, { route: 'streamRoute', method: 'GET' }),
            onClosed: (dropped) => this.remove(connection, dropped),
          })
          connection.write(encoder.encode(`retry: ${this.settings.retryMs}\n\n`))
          // Registration and resume happen in one synchronous step: no event can fall between them. Registered
          // first, so a resume burst over the limit drops (and unregisters) the connection like any other backlog.
          this.connections.add(connection)
          this.heartbeat ??= setInterval(() => this.beat(), this.settings.heartbeatMs)
          if (lastEventId !== '') this.resume(connection, lastEventId)
        },
        cancel: () => connection?.close(),
      },
      // Unwritten bytes stay in this queue; the connection reads its size to decide when to drop.
      new ByteLengthQueuingStrategy({ highWaterMark: 0 }),
    )
    request.signal?.addEventListener('abort', () => connection?.close(), { once: true })
    return new Response(body, {
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
      },
    })
  }

  private resume(connection: StreamConnection, lastEventId: string): void {
    const missed = this.ring.after(lastEventId)
    if (missed) {
      this.counts.resumed++
      for (const entry of missed) connection.offer(entry)
      return
    }
    this.counts.resyncs++
    // The id of the newest held event (or none): a later reconnect resumes from here rather than resyncing again.
    const newest = this.ring.newestId() ?? ''
    connection.write(
      encoder.encode(`event: ${RESYNC_EVENT}\nid: ${newest}\ndata: ${JSON.stringify({ lastEventId })}\n\n`),
    )
  }

  private beat(): void {
    for (const connection of this.connections) connection.write(HEARTBEAT)
  }

  private remove(connection: StreamConnection | undefined, dropped: boolean): void {
    if (!connection || !this.connections.delete(connection)) return
    if (dropped) this.counts.dropped++
    if (this.connections.size === 0 && this.heartbeat) {
      clearInterval(this.heartbeat)
      this.heartbeat = undefined
    }
  }

  async close(): Promise<void> {
    this.forget()
    for (const connection of [...this.connections]) connection.close()
    const subs = await this.subscriptions?.catch(() => [])
    this.subscriptions = undefined
    await Promise.all((subs ?? []).map((s) => s.close()))
  }
}

/** The thrown reason of a dropped connection's stream. */
class SlowClient extends Error {}

/** One browser: events wait for its filter in order, then for the socket; too much waiting drops it. */
class StreamConnection {
  private readonly pending: Array<StreamedEvent<ReceivedEvent>> = []
  private pendingBytes = 0
  private filtering = false
  private closed = false

  constructor(
    private readonly controller: ReadableStreamDefaultController<Uint8Array>,
    private readonly maxBufferedBytes: number,
    private readonly hooks: {
      readonly accept: ((event: ReceivedEvent) => boolean | Promise<boolean>) | undefined
      readonly onFilterError: (err: unknown) => void
      readonly onClosed: (dropped: boolean) => void
    },
  ) {}

  offer(entry: StreamedEvent<ReceivedEvent>): void {
    if (this.closed) return
    if (!this.hooks.accept) {
      this.write(entry.frame)
      return
    }
    this.pending.push(entry)
    this.pendingBytes += entry.frame.byteLength
    if (this.overLimit()) this.drop()
    else if (!this.filtering) this.pump()
  }

  /** Queues bytes for the socket; drops the connection when its backlog is over the limit. */
  write(bytes: Uint8Array): void {
    if (this.closed) return
    this.controller.enqueue(bytes)
    if (this.overLimit()) this.drop()
  }

  close(): void {
    if (this.end(false)) this.controller.close()
  }

  private overLimit(): boolean {
    // With a high-water mark of 0, desiredSize is minus the bytes enqueued and not yet read by the server.
    return this.pendingBytes - (this.controller.desiredSize ?? 0) > this.maxBufferedBytes
  }

  private drop(): void {
    if (this.end(true))
      this.controller.error(
        new SlowClient(`the client read too slowly (over ${this.maxBufferedBytes} bytes waiting); disconnected`),
      )
  }

  /** Marks the connection closed once; true the first time. */
  private end(dropped: boolean): boolean {
    if (this.closed) return false
    this.closed = true
    this.pending.length = 0
    this.hooks.onClosed(dropped)
    return true
  }

  /** Runs the filter over waiting events in order; synchronous verdicts are applied without a promise. */
  private pump(): void {
    const accept = this.hooks.accept
    while (accept && !this.closed && this.pending.length > 0) {
      const entry = this.pending[0] as StreamedEvent<ReceivedEvent>
      let verdict: boolean | PromiseLike<boolean>
      try {
        verdict = accept(entry.event)
      } catch (err) {
        verdict = Promise.reject(err)
      }
      if (typeof (verdict as Partial<PromiseLike<boolean>>).then !== 'function') {
        this.settle(entry, verdict === true)
        continue
      }
      this.filtering = true
      Promise.resolve(verdict)
        .then(
          (ok) => this.settle(entry, ok === true),
          (err: unknown) => {
            this.hooks.onFilterError(err)
            this.settle(entry, false)
          },
        )
        .finally(() => {
          this.filtering = false
          this.pump()
        })
      return
    }
  }

  private settle(entry: StreamedEvent<ReceivedEvent>, send: boolean): void {
    if (this.closed) return
    this.pending.shift()
    this.pendingBytes -= entry.frame.byteLength
    if (send) this.write(entry.frame)
  }
}
