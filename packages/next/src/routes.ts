import {
  type Bus,
  type BusSubscription,
  ConfigError,
  type MetricsSnapshot,
  PROMETHEUS_CONTENT_TYPE,
  prometheusText,
  type SubscribeOptions,
} from '@tierbus/core'
import {
  type AdvisedTier,
  adviseTier,
  type Verdict,
  type Workload,
  workloadFromMetrics,
} from '@tierbus/migrator/advisor'
import { BadRequest, json } from './responses.js'
import { guardedRoute, type RouteHandler, type RouteProtection } from './route-guard.js'

/** A bus, or a function that gives one (e.g. `() => sharedBus()`). */
export type BusSource = Bus | (() => Promise<Bus>)

/** The bus a `BusSource` names. */
export const busOf = (source: BusSource): Promise<Bus> =>
  typeof source === 'function' ? source() : Promise.resolve(source)

/** Maps a transport name to the advisor's tier names. */
export function tierOf(transportName: string): AdvisedTier {
  const name = transportName.split('->')[0] ?? transportName
  if (name === 'memory') return 'memory'
  if (/^(postgres|pglite|supabase|db)/.test(name)) return 'db-realtime'
  if (/^(redis|upstash)/.test(name)) return 'redis-streams'
  if (/^(sqs|sns)/.test(name)) return 'sqs-sns'
  if (name === 'nats') return 'nats'
  return 'memory'
}

/** The body of the metrics route: the `/api/events/metrics` fields of SignalsLoop's queue evaluation plus tierbus detail. */
export interface EventsMetrics {
  transport: string
  at: string
  eventVolume: {
    perSecond: number
    perDay: number
    published: number
    handled: number
    byType: Record<string, { published: number; acked: number; deadLettered: number }>
  }
  latency: { endToEndMs: MetricsSnapshot['endToEndMs']; handlerMs: MetricsSnapshot['handlerMs'] }
  errorRate: number
  dlqCount: number
  /** Per consumer group in this process: counts and lag (see `GroupMetrics`). */
  groups: MetricsSnapshot['byGroup']
  /** The migration phase and its counters, when `TIERBUS_MIGRATION` is set; otherwise null. */
  migration: { phase: string; [counter: string]: unknown } | null
  recommendation: Verdict
}

/** Options of `metricsRoute`. */
export interface MetricsRouteOptions extends RouteProtection {
  bus: BusSource
  /** Requirements the advisor weighs besides measured volume (latency need, agents, multi-region...). */
  requirements?: Omit<Workload, 'eventsPerDay' | 'p99LatencyMs' | 'currentTier'> & { currentTier?: AdvisedTier }
  /**
   * `json` (the body above), `prometheus` (the text exposition format, see `prometheusText`), or
   * `negotiate` (default): Prometheus text when the request's `Accept` names `text/plain` or
   * `application/openmetrics-text` and not `application/json` (as a Prometheus scrape does), JSON otherwise.
   */
  format?: 'json' | 'prometheus' | 'negotiate'
}

/** True when a request asks for the Prometheus text format rather than JSON (a scraper's `Accept`). */
export function acceptsPrometheus(request: Request): boolean {
  const accept = request.headers.get('accept') ?? ''
  return /\b(text\/plain|application\/openmetrics-text)\b/i.test(accept) && !/\bapplication\/json\b/i.test(accept)
}

/** Most dead letters counted; beyond it the count says `dlqCount: 1000` and the DLQ route pages. */
const DLQ_COUNT_CAP = 1_000

/**
 * GET handler: volume, latency, error rate, DLQ count and the advisor's recommendation, as JSON; or the
 * bus's metrics in the Prometheus text format for a scraper (see `format`).
 */
export function metricsRoute(options: MetricsRouteOptions): RouteHandler {
  const format = options.format ?? 'negotiate'
  if (!['json', 'prometheus', 'negotiate'].includes(format)) {
    throw new ConfigError(
      `metricsRoute: format must be 'json', 'prometheus' or 'negotiate', got ${JSON.stringify(format)}`,
    )
  }
  return guardedRoute('metricsRoute', options, async (request) => {
    const bus = await busOf(options.bus)
    if (format === 'prometheus' || (format === 'negotiate' && acceptsPrometheus(request))) {
      return new Response(prometheusText(bus), {
        headers: { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store', vary: 'accept' },
      })
    }
    const m = bus.metrics()
    const dlqCount = bus.transport.deadLetters
      ? (await bus.transport.deadLetters.list({ limit: DLQ_COUNT_CAP })).length
      : 0
    const currentTier = options.requirements?.currentTier ?? tierOf(m.transport)
    const workload = workloadFromMetrics(m, { ...options.requirements, currentTier })
    const body: EventsMetrics = {
      transport: m.transport,
      at: m.at,
      eventVolume: {
        perSecond: m.rates.publishedPerSec,
        perDay: Math.round(workload.eventsPerDay),
        published: m.totals.published,
        handled: m.totals.acked,
        byType: Object.fromEntries(
          Object.entries(m.byType).map(([t, s]) => [
            t,
            { published: s.published, acked: s.acked, deadLettered: s.deadLettered },
          ]),
        ),
      },
      latency: { endToEndMs: m.endToEndMs, handlerMs: m.handlerMs },
      errorRate: m.errorRate,
      dlqCount,
      groups: m.byGroup,
      migration: migrationOf(bus.transport),
      recommendation: adviseTier(workload),
    }
    return json(body)
  })
}

/** The phase and counters of a migrating transport (duck-typed, so this package needs no migrator import at runtime). */
function migrationOf(transport: unknown): EventsMetrics['migration'] {
  const t = transport as { phase?: unknown; stats?: () => Record<string, unknown> }
  if (typeof t.phase !== 'string' || typeof t.stats !== 'function') return null
  return { ...t.stats(), phase: t.phase }
}

/** Options of `drainRoute`. */
export interface DrainRouteOptions extends RouteProtection {
  bus: BusSource
  /** Subscribes the handlers this drain runs (called per request; the subscriptions are closed after). */
  subscribe: (bus: Bus) => Promise<BusSubscription[]>
  /** Stop taking new events after this long (keep it under the platform's function timeout). */
  budgetMs?: number
  /** Stop early after this long without a new delivery. */
  idleMs?: number
  /**
   * Where a consumer group that does not exist yet starts, for subscriptions made in `subscribe` that do
   * not say: `earliest` (default, on tiers that can replay) so events published before the first drain
   * are handled, not skipped; `latest` to start with events published after the group is created.
   */
  startFrom?: 'earliest' | 'latest'
}

/** Defaults of `drainRoute`. */
export const DRAIN_DEFAULTS = Object.freeze({ budgetMs: 10_000, idleMs: 1_000 })

/**
 * POST handler for serverless consumption (Vercel Cron, a webhook): serverless functions cannot hold a
 * consumer open, so each call subscribes, handles events until the time budget runs out or the queue
 * stays idle, then stops intake and waits for in-flight handlers (within the budget). Work it could not
 * finish is redelivered later by the tier.
 */
export function drainRoute(options: DrainRouteOptions): RouteHandler {
  const budgetMs = options.budgetMs ?? DRAIN_DEFAULTS.budgetMs
  const idleMs = options.idleMs ?? DRAIN_DEFAULTS.idleMs
  return guardedRoute('drainRoute', options, async () => {
    const bus = await busOf(options.bus)
    const started = Date.now()
    const before = bus.metrics().totals
    const subs = await options.subscribe(withStartFrom(bus, options.startFrom ?? 'earliest'))
    let last = before.delivered
    let lastChange = Date.now()
    for (;;) {
      const now = Date.now()
      const delivered = bus.metrics().totals.delivered
      if (delivered !== last) {
        last = delivered
        lastChange = now
      }
      const busy = subs.some((s) => s.inFlight > 0)
      if (now - started >= budgetMs || (!busy && now - lastChange >= idleMs)) break
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    const remaining = Math.max(100, budgetMs - (Date.now() - started))
    const drained = await Promise.all(subs.map((s) => s.close({ timeoutMs: remaining })))
    const after = bus.metrics().totals
    return json({
      handled: after.acked - before.acked,
      retried: after.retried - before.retried,
      deadLettered: after.deadLettered - before.deadLettered,
      durationMs: Date.now() - started,
      finishedInFlight: drained.every(Boolean),
    })
  })
}

/**
 * The bus as `drainRoute`'s `subscribe` sees it: subscriptions that do not set `startFrom` get the drain's.
 * A tier that cannot replay keeps its own default (`latest`).
 */
function withStartFrom(bus: Bus, startFrom: 'earliest' | 'latest'): Bus {
  if (startFrom === 'earliest' && !bus.transport.capabilities.replay) return bus
  const subscribe = ((
    target: Parameters<Bus['subscribe']>[0],
    handler: Parameters<Bus['subscribe']>[1],
    options: SubscribeOptions = {},
  ) => bus.subscribe(target as never, handler as never, { startFrom, ...options })) as Bus['subscribe']
  return new Proxy(bus, { get: (target, key) => (key === 'subscribe' ? subscribe : Reflect.get(target, key, target)) })
}

/** Options of `deadLetterRoutes`. */
export interface DeadLetterRoutesOptions extends RouteProtection {
  bus: BusSource
}

/** The fixed answer to a redrive/purge body of the wrong shape. */
const IDS_SHAPE = 'send { "ids": ["<dead letter id>", ...] } or { "all": true, "group": "<group>" }'

/** The JSON body of a mutating request; anything that is not JSON is the caller's error (400). */
async function jsonBody(request: Request): Promise<unknown> {
  const text = await request.text()
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new BadRequest(`the body is not JSON: ${IDS_SHAPE}`)
  }
}

/** The dead letter ids a redrive/purge body names: `{ ids }`, or every one of a group with `{ all: true }`. */
async function idsOf(request: Request, bus: Bus): Promise<string[]> {
  const body = (await jsonBody(request)) as { ids?: unknown; all?: unknown; group?: unknown } | null
  if (typeof body !== 'object' || body === null) throw new BadRequest(IDS_SHAPE)
  if (body.all === true) {
    const group = typeof body.group === 'string' ? body.group : undefined
    return (await bus.deadLetters.list({ ...(group ? { group } : {}), limit: 10_000 })).map((d) => d.id)
  }
  if (!Array.isArray(body.ids) || !body.ids.every((id) => typeof id === 'string')) throw new BadRequest(IDS_SHAPE)
  return body.ids as string[]
}

/**
 * Dead-letter route handlers: `GET ?group=&limit=` lists, `POST { ids } | { all: true, group }` redrives,
 * `DELETE { ids }` purges. Export them as `GET`, `POST`, `DELETE` of one route file.
 */
export function deadLetterRoutes(options: DeadLetterRoutesOptions): Record<'GET' | 'POST' | 'DELETE', RouteHandler> {
  return {
    GET: guardedRoute('deadLetterRoutes', options, async (request) => {
      const bus = await busOf(options.bus)
      const url = new URL(request.url)
      const group = url.searchParams.get('group') ?? undefined
      const limit = Math.min(1_000, Number(url.searchParams.get('limit') ?? 100) || 100)
      return json({ deadLetters: await bus.deadLetters.list({ ...(group ? { group } : {}), limit }) })
    }),
    POST: guardedRoute('deadLetterRoutes', options, async (request) => {
      const bus = await busOf(options.bus)
      const ids = await idsOf(request, bus)
      return json({ requested: ids.length, redriven: await bus.deadLetters.redrive(ids) })
    }),
    DELETE: guardedRoute('deadLetterRoutes', options, async (request) => {
      const bus = await busOf(options.bus)
      const ids = await idsOf(request, bus)
      return json({ requested: ids.length, purged: await bus.deadLetters.purge(ids) })
    }),
  }
}
