import { positiveInt } from './adapter/env-vars.js'
import { capabilitiesOf } from './capabilities.js'
import { isoAt, nowIso } from './clock.js'
import { Consumer, type ErrorListener, type Handler } from './consumer.js'
import { assertHeaders, type Envelope } from './envelope.js'
import { ConfigError, TierbusError, TimeoutError, ValidationError } from './errors.js'
import {
  type AnyEventDefinition,
  type EventInput,
  type EventOutput,
  parseData,
  type ReplyInput,
  type ReplyOutput,
} from './events.js'
import { newEventId } from './ids.js'
import { Metrics, type MetricsSnapshot } from './metrics.js'
import { assertMiddleware, composePublish, type Middleware, type PublishNext } from './middleware.js'
import { type RetryOptions, type RetryPolicy, resolveRetry } from './retry.js'
import { SETTLED } from './settled.js'
import { assertPattern, INBOX_PREFIX, isInboxType, newInboxType, replyToIssue } from './subjects.js'
import { MAX_TRACESTATE_LENGTH, parseTraceparent } from './trace-context.js'
import type { DeadLetterStore, Subscription, SubscriptionSpec, Transport } from './transport.js'

/** Options of `createBus`. */
export interface BusOptions {
  /** The tier: `memoryTransport()`, a Postgres/Redis/SQS/NATS transport, or `createBusFromEnv()`. */
  transport: Transport
  /** Producer name written to every envelope's `source`, e.g. `signalsloop/api`. */
  source: string
  /** Group of subscriptions that name none; default: `source` with unsupported characters replaced by `-`. */
  group?: string
  /**
   * Known event definitions: pattern subscriptions (`'agent.*.heartbeat'`) check the data of these
   * types against their schemas too. Subscriptions by definition always check.
   */
  events?: readonly AnyEventDefinition[]
  /** Default retry policy of subscriptions. */
  retry?: RetryOptions
  /** Default handler concurrency per subscription. */
  concurrency?: number
  /** Default lease: an unsettled delivery is redelivered this long after a crash. */
  leaseMs?: number
  /** How long `close()` waits for in-flight handlers by default. */
  closeTimeoutMs?: number
  /** Where failures nobody awaits (a failed ack) are reported; default: `console.error`. */
  onError?: ErrorListener
  /** Close the transport in `bus.close()` (default true). */
  closeTransport?: boolean
}

/** Defaults of `BusOptions` and `SubscribeOptions`. */
export const BUS_DEFAULTS = Object.freeze({
  concurrency: 8,
  leaseMs: 30_000,
  closeTimeoutMs: 10_000,
  requestTimeoutMs: 5_000,
  startFrom: 'latest' as const,
})

/** Options of `bus.publish`. */
export interface PublishOptions {
  /** Ordering / partition key (the envelope's `subject`): same-key events keep their order where the tier can. */
  key?: string
  /** Event id (default: a new UUIDv7). Reuse an id to make a retried publish idempotent for consumers. */
  id?: string
  /** Extra CloudEvents extension attributes (names: 1-20 lowercase letters or digits). */
  headers?: Record<string, string>
  /** Deliver no sooner than this many ms from now (tiers with `capabilities.delay`). */
  delayMs?: number
  /** Correlation id, e.g. the id of the event that caused this one. */
  correlationId?: string
  /** W3C `traceparent` to propagate (with @tierbus/otel, the parent of the publish span when none is active). */
  traceparent?: string
  /** W3C `tracestate` that goes with `traceparent` (at most 512 characters). */
  tracestate?: string
}

/** Options of `bus.subscribe`. */
export interface SubscribeOptions {
  /** Consumer group: every group gets each event once; subscribers in one group compete. */
  group?: string
  /** Handlers running at once for this subscription. */
  concurrency?: number
  retry?: RetryOptions
  /** Where a new group starts: `latest` (default) or `earliest` (replay retained history). */
  startFrom?: 'latest' | 'earliest'
  /** Handle same-key events one at a time in publish order (retries happen in place). */
  ordered?: boolean
  /** Redelivery delay after a crash; long handlers are kept alive by heartbeats where the tier supports it. */
  leaseMs?: number
  /** Handle middleware of this subscription only, run inside the bus's (`bus.use`); `publish` hooks are not used. */
  middleware?: readonly Middleware[]
}

/** Options of `bus.request`. */
export interface RequestOptions extends Omit<PublishOptions, 'delayMs'> {
  /** Give up after this long with a TimeoutError (default 5,000 ms, the MisterSmith capacity plan's request timeout). */
  timeoutMs?: number
}

/** Options of `bus.close`. */
export interface CloseOptions {
  /** How long to wait for in-flight handlers; the rest are left for redelivery. */
  timeoutMs?: number
}

/** A running subscription. */
export interface BusSubscription {
  readonly pattern: string
  readonly group: string
  /** Handlers running or queued. */
  readonly inFlight: number
  /** Stops intake and waits (bounded) for in-flight handlers; true when all finished. */
  close(options?: CloseOptions): Promise<boolean>
}

/** One event of a mixed-type `publishBatch`; build it with `outgoing()` to keep the data typed. */
export interface OutgoingEvent<D extends AnyEventDefinition = AnyEventDefinition> {
  readonly event: D
  readonly data: EventInput<D>
  readonly options?: PublishOptions
}

/** Typed constructor of a batch entry: `outgoing(FeedbackCreated, { ... })`. */
export function outgoing<D extends AnyEventDefinition>(
  event: D,
  data: EventInput<D>,
  options?: PublishOptions,
): OutgoingEvent<D> {
  return options ? { event, data, options } : { event, data }
}

/** The event bus: one typed API over whichever tier `transport` is. */
export interface Bus {
  readonly source: string
  readonly transport: Transport
  /** Validates `data` and publishes one event; resolves with its envelope once the tier accepted it. */
  publish<D extends AnyEventDefinition>(
    event: D,
    data: EventInput<D>,
    options?: PublishOptions,
  ): Promise<Envelope<EventInput<D>>>
  /** Publishes many events of one type in one tier call. */
  publishBatch<D extends AnyEventDefinition>(
    event: D,
    data: readonly EventInput<D>[],
    options?: Omit<PublishOptions, 'id'>,
  ): Promise<Envelope[]>
  /** Publishes a mixed batch built with `outgoing()`. */
  publishBatch(events: readonly OutgoingEvent[]): Promise<Envelope[]>
  /** Subscribes a handler to one event type (data typed and checked by its schema). */
  subscribe<D extends AnyEventDefinition>(
    event: D,
    handler: Handler<EventOutput<D>, ReplyInput<D>>,
    options?: SubscribeOptions,
  ): Promise<BusSubscription>
  /** Subscribes to a pattern: `agent.*.heartbeat`, `work.nlp.>`. Data of types in `events` is checked. */
  subscribe(pattern: string, handler: Handler<unknown>, options?: SubscribeOptions): Promise<BusSubscription>
  /**
   * Publishes a request and waits for the first reply: the return value of a subscriber that subscribed
   * to this event by definition (pattern subscribers never answer; a handler returning undefined does not).
   */
  request<D extends AnyEventDefinition>(
    event: D,
    data: EventInput<D>,
    options?: RequestOptions,
  ): Promise<ReplyOutput<D>>
  /**
   * Adds middleware around every publish and every handler run (see `Middleware`), for subscriptions made
   * before and after; the first registered is the outermost. Returns the bus.
   */
  use(...middleware: Middleware[]): Bus
  /** Counters, rates and latency percentiles as plain JSON. */
  metrics(): MetricsSnapshot
  /** The tier's dead letters (list, redrive, purge); throws a ConfigError when the tier has none. */
  readonly deadLetters: DeadLetterStore
  /** Stops intake, waits (bounded) for in-flight handlers, fails pending requests, closes the transport. */
  close(options?: CloseOptions): Promise<void>
}

const GROUP = /^[A-Za-z0-9_.:-]{1,100}$/

/** Creates a bus over a transport: `createBus({ transport: memoryTransport(), source: 'my-app' })`. */
export function createBus(options: BusOptions): Bus {
  return new EventBus(options)
}

class EventBus implements Bus {
  readonly source: string
  readonly transport: Transport
  private readonly group: string
  private readonly registry = new Map<string, AnyEventDefinition>()
  private readonly retry: RetryPolicy
  private readonly concurrency: number
  private readonly leaseMs: number
  private readonly closeTimeoutMs: number
  private readonly onError: ErrorListener
  private readonly closeTransport: boolean
  private readonly collector: Metrics
  private readonly subscriptions = new Set<BusSubscription>()
  private readonly inboxType = newInboxType()
  private inbox: Promise<BusSubscription> | undefined
  private readonly waiting = new Map<string, { resolve: (e: Envelope) => void; reject: (err: unknown) => void }>()
  private closed = false
  private readonly middleware: Middleware[] = []
  /** Re-composes each live subscription's handle chain after `use`. */
  private readonly rechain = new Set<() => void>()
  /** Publishes and counts what the tier accepted: the tier call at the core of the publish chain. */
  private readonly send: PublishNext = (envelopes) => this.toTier<void>(envelopes)
  /** `send` inside the publish middleware; undefined while no middleware has a publish hook. */
  private publishVia: PublishNext | undefined
  /** Replies inside the publish middleware (not counted as published events, as before middleware). */
  private replyVia: PublishNext = (envelopes) => this.transport.publish(envelopes)

  constructor(options: BusOptions) {
    if (
      !options ||
      typeof options.transport?.publish !== 'function' ||
      typeof options.transport.subscribe !== 'function'
    ) {
      throw new ConfigError(
        'createBus({ transport, source }): transport must implement the Transport SPI (publish, subscribe, close), e.g. memoryTransport()',
      )
    }
    if (typeof options.source !== 'string' || options.source.trim() === '') {
      throw new ConfigError("createBus({ source }): source must name the producer, e.g. 'signalsloop/api'")
    }
    this.transport = options.transport
    this.source = options.source
    this.group = options.group ?? (options.source.replace(/[^A-Za-z0-9_.:-]/g, '-').slice(0, 100) || 'default')
    if (!GROUP.test(this.group))
      throw new ConfigError(`invalid group '${this.group}': use 1-100 letters, digits, '_', '.', ':' or '-'`)
    for (const def of options.events ?? []) this.registry.set(def.type, def)
    this.retry = resolveRetry(options.retry)
    this.concurrency = positiveInt(options.concurrency ?? BUS_DEFAULTS.concurrency, 'concurrency')
    this.leaseMs = positiveInt(options.leaseMs ?? BUS_DEFAULTS.leaseMs, 'leaseMs')
    this.closeTimeoutMs = options.closeTimeoutMs ?? BUS_DEFAULTS.closeTimeoutMs
    this.closeTransport = options.closeTransport ?? true
    this.onError =
      options.onError ??
      ((err, info) =>
        console.error(
          `[tierbus] ${info.phase} failed for group ${info.group}${info.eventId ? ` event ${info.eventId}` : ''}:`,
          err,
        ))
    this.collector = new Metrics(this.transport.name)
  }

  get deadLetters(): DeadLetterStore {
    const store = this.transport.deadLetters
    if (!store)
      throw new ConfigError(
        `the ${this.transport.name} transport has no dead-letter store to read; read its dead-letter destination with the tier's own tools`,
      )
    return store
  }

  publish<D extends AnyEventDefinition>(
    event: D,
    data: EventInput<D>,
    options?: PublishOptions,
  ): Promise<Envelope<EventInput<D>>> {
    // Not an async function: on the hottest path an async frame plus an await per event cost more than the
    // rest of the call. Every failure still comes back as a rejected promise, never as a throw.
    try {
      this.assertOpen()
      const now = Date.now()
      const envelope = this.envelopeFor(event, data, options, now) as Envelope<EventInput<D>>
      return this.publishAll([envelope], now, envelope)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  publishBatch(
    first: AnyEventDefinition | readonly OutgoingEvent[],
    data?: readonly unknown[],
    options?: Omit<PublishOptions, 'id'>,
  ): Promise<Envelope[]> {
    try {
      // One clock read for the batch: its events share a time (their ids still increase).
      const now = Date.now()
      const envelopes = Array.isArray(first)
        ? (first as readonly OutgoingEvent[]).map((o) => this.envelopeFor(o.event, o.data, o.options, now))
        : (data ?? []).map((d) => this.envelopeFor(first as AnyEventDefinition, d, options, now))
      if (envelopes.length === 0) return Promise.resolve(envelopes)
      this.assertOpen()
      return this.publishAll(envelopes, now, envelopes)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  async subscribe(
    target: AnyEventDefinition | string,
    handler: Handler<never, unknown>,
    options: SubscribeOptions = {},
  ): Promise<BusSubscription> {
    this.assertOpen()
    const definition = typeof target === 'string' ? undefined : target
    if (definition && !this.registry.has(definition.type)) this.registry.set(definition.type, definition)
    const pattern = typeof target === 'string' ? target : target.type
    assertPattern(pattern)
    if (typeof handler !== 'function') throw new ConfigError(`subscribe('${pattern}'): handler must be a function`)
    const own = options.middleware ?? []
    if (!Array.isArray(own)) {
      throw new ConfigError(`subscribe('${pattern}'): middleware must be an array of middleware objects`)
    }
    for (const m of own) assertMiddleware(m, `subscribe('${pattern}', { middleware })`)
    const retry = this.retryFor(options)
    const spec = this.specFor(pattern, options, false, retry)
    const definitionFor = definition ? () => definition : (type: string) => this.registry.get(type)
    return this.start(spec, handler as Handler, retry, definitionFor, definition !== undefined, own)
  }

  async request<D extends AnyEventDefinition>(
    event: D,
    data: EventInput<D>,
    options: RequestOptions = {},
  ): Promise<ReplyOutput<D>> {
    this.assertOpen()
    const timeoutMs = options.timeoutMs ?? BUS_DEFAULTS.requestTimeoutMs
    const envelope = this.envelopeFor(event, data, options)
    envelope.replyto = this.inboxType
    // A reply is handled once or not at all: the inbox never retries, and its spec says so to the tier.
    const once = resolveRetry({ attempts: 1 })
    this.inbox ??= this.start(
      this.specFor(
        this.inboxType,
        { group: `${INBOX_PREFIX}-${this.inboxType.slice(INBOX_PREFIX.length + 1)}`, concurrency: 64 },
        true,
        once,
      ),
      (reply) => this.settleRequest(reply.envelope),
      once,
      () => undefined,
      false,
    )
    await this.inbox
    let timer: NodeJS.Timeout | undefined
    const replied = new Promise<Envelope>((resolve, reject) => {
      this.waiting.set(envelope.id, { resolve, reject })
      timer = setTimeout(() => {
        this.waiting.delete(envelope.id)
        reject(
          new TimeoutError(
            `no reply to '${event.type}' within ${timeoutMs} ms: is a subscriber for '${event.type}' running, and does it return a value?`,
            timeoutMs,
          ),
        )
      }, timeoutMs)
    })
    try {
      // Publish and the reply race the same timer: a publish slower than timeoutMs ends the request with the
      // TimeoutError, and Promise.all keeps a handler on both so neither can become an unhandled rejection.
      const [, reply] = await Promise.all([(this.publishVia ?? this.send)([envelope]), replied])
      if (reply.replyerror !== undefined) {
        throw new TierbusError('REPLY_FAILED', `request '${event.type}' failed in the responder: ${reply.replyerror}`)
      }
      return (event.reply ? parseData(event.reply, event.type, reply.data, 'reply') : reply.data) as ReplyOutput<D>
    } finally {
      clearTimeout(timer)
      this.waiting.delete(envelope.id)
    }
  }

  use(...middleware: Middleware[]): Bus {
    this.assertOpen()
    for (const m of middleware) assertMiddleware(m, 'bus.use()')
    this.middleware.push(...middleware)
    const tier = this.transport.name
    const chain = composePublish(this.middleware, tier, this.send)
    this.publishVia = chain === this.send ? undefined : chain
    this.replyVia = composePublish(this.middleware, tier, (envelopes) => this.transport.publish(envelopes))
    for (const rechain of this.rechain) rechain()
    return this
  }

  metrics(): MetricsSnapshot {
    return this.collector.snapshot(this.transport.trimmedUnread?.() ?? 0)
  }

  async close(options: CloseOptions = {}): Promise<void> {
    if (this.closed) return
    this.closed = true
    const timeoutMs = options.timeoutMs ?? this.closeTimeoutMs
    for (const [, w] of this.waiting)
      w.reject(new TierbusError('CLOSED', 'the bus was closed before the reply arrived'))
    this.waiting.clear()
    await Promise.all([...this.subscriptions].map((s) => s.close({ timeoutMs })))
    if (this.closeTransport) await this.transport.close()
  }

  /**
   * `publish` and `publishBatch`: through the middleware when there is any, else straight to the tier with
   * the caller's result in the counting reaction (one promise hop per publish, not two). Resolves with
   * `result` once the tier accepted the envelopes.
   */
  private publishAll<T>(envelopes: readonly Envelope[], now: number, result: T): Promise<T> {
    // A tier that accepted at once (the memory tier) needs no promise hop. Promise.resolve() keeps a
    // middleware that returns no promise working, as `await` did.
    if (this.publishVia) {
      const sent = this.publishVia(envelopes)
      return sent === SETTLED ? Promise.resolve(result) : Promise.resolve(sent).then(() => result)
    }
    const sent = this.toTier(envelopes, now, result)
    return sent === SETTLED ? Promise.resolve(result) : sent
  }

  /**
   * Publishes through the tier and counts what it accepted (the end of the middleware chain, `send`):
   * `SETTLED` when the tier accepted at once (counted at `now`, when the envelopes were built), else a
   * promise of `result` once it did.
   */
  private toTier<T>(envelopes: readonly Envelope[], now?: number, result?: T): Promise<T> {
    const sent = this.transport.publish(envelopes)
    if (sent === SETTLED) {
      this.collector.publishedAll(envelopes, now)
      return SETTLED as Promise<unknown> as Promise<T>
    }
    return Promise.resolve(sent).then(() => {
      this.collector.publishedAll(envelopes)
      return result as T
    })
  }

  private settleRequest(reply: Envelope): void {
    const waiter = reply.correlationid ? this.waiting.get(reply.correlationid) : undefined
    waiter?.resolve(reply)
  }

  private assertOpen(): void {
    if (this.closed) throw new TierbusError('CLOSED', 'this bus is closed: create a new one with createBus()')
  }

  private retryFor(options: SubscribeOptions): RetryPolicy {
    if (!options.retry) return this.retry
    return resolveRetry({
      attempts: options.retry.attempts ?? this.retry.attempts,
      backoff: { ...this.retry.backoff, ...options.retry.backoff },
    })
  }

  private specFor(
    pattern: string,
    options: SubscribeOptions,
    ephemeral: boolean,
    retry: RetryPolicy,
  ): SubscriptionSpec {
    const group = options.group ?? this.group
    if (typeof group !== 'string' || !GROUP.test(group)) {
      throw new ConfigError(`invalid group ${JSON.stringify(group)}: use 1-100 letters, digits, '_', '.', ':' or '-'`)
    }
    const caps = capabilitiesOf(this.transport, pattern)
    const startFrom = options.startFrom ?? BUS_DEFAULTS.startFrom
    if (startFrom !== 'latest' && startFrom !== 'earliest')
      throw new ConfigError(`startFrom must be 'latest' or 'earliest', got ${JSON.stringify(startFrom)}`)
    if (startFrom === 'earliest' && !caps.replay) {
      throw new ConfigError(
        `the ${this.transport.name} tier cannot replay history (startFrom: 'earliest'); use a persistent tier such as postgres or redis`,
      )
    }
    const ordered = options.ordered ?? false
    if (ordered && caps.ordering !== 'per-key') {
      const hint =
        this.transport.orderingHint ??
        "use a tier with capabilities.ordering 'per-key' (memory, postgres, pglite, supabase, redis, upstash, nats, or SQS with fifo: true)"
      throw new ConfigError(`the ${this.transport.name} tier does not keep per-key order (ordered: true); ${hint}`)
    }
    const concurrency = positiveInt(options.concurrency ?? this.concurrency, 'concurrency')
    return {
      pattern,
      group,
      startFrom,
      maxInFlight: concurrency,
      leaseMs: positiveInt(options.leaseMs ?? this.leaseMs, 'leaseMs'),
      maxAttempts: retry.attempts,
      ordered,
      ephemeral,
    }
  }

  private async start(
    spec: SubscriptionSpec,
    handler: Handler,
    retry: RetryPolicy,
    definitionFor: (type: string) => AnyEventDefinition | undefined,
    responder: boolean,
    middleware?: readonly Middleware[],
  ): Promise<BusSubscription> {
    const consumer = new Consumer({
      spec,
      handler,
      concurrency: spec.maxInFlight,
      retry,
      definitionFor,
      tier: this.transport.name,
      // The request-reply inbox (no `middleware`) is core's own handler: middleware never wraps it.
      ...(middleware ? { middleware: [...this.middleware, ...middleware] } : {}),
      ...(responder
        ? {
            reply: (request: Envelope, outcome: { data: unknown } | { error: string }) =>
              this.sendReply(request, outcome, definitionFor(request.type)),
          }
        : {}),
      ...(spec.ephemeral ? {} : { metrics: this.collector }),
      onError: this.onError,
    })
    const transportSub: Subscription = await this.transport.subscribe(spec, consumer.accept)
    const rechain = middleware ? () => consumer.useMiddleware([...this.middleware, ...middleware]) : undefined
    if (rechain) this.rechain.add(rechain)
    let closing: Promise<boolean> | undefined
    const subscription: BusSubscription = {
      pattern: spec.pattern,
      group: spec.group,
      get inFlight() {
        return consumer.inFlight
      },
      close: (closeOptions: CloseOptions = {}) =>
        (closing ??= (async () => {
          await transportSub.close()
          const drained = await consumer.drain(closeOptions.timeoutMs ?? this.closeTimeoutMs)
          this.subscriptions.delete(subscription)
          if (rechain) this.rechain.delete(rechain)
          return drained
        })()),
    }
    this.subscriptions.add(subscription)
    return subscription
  }

  private async sendReply(
    request: Envelope,
    outcome: { data: unknown } | { error: string },
    definition: AnyEventDefinition | undefined,
  ): Promise<void> {
    // Defence in depth: decoding already refuses a forged replyto; a reply never goes anywhere but an inbox.
    const replyTo = request.replyto
    if (!isInboxType(replyTo)) {
      // replyToIssue() describes exactly what isInboxType() refuses.
      const issue = replyToIssue(replyTo) ?? 'not a request-reply inbox'
      throw new ValidationError(`not replying to '${request.type}' (${request.id}): ${issue}`, [
        { path: 'replyto', message: issue },
      ])
    }
    const reply: Envelope = {
      specversion: '1.0',
      id: newEventId(),
      source: this.source,
      type: replyTo,
      time: nowIso(),
      datacontenttype: 'application/json',
      data: null,
      correlationid: request.id,
    }
    if ('error' in outcome) reply.replyerror = outcome.error
    else {
      if (definition?.reply) parseData(definition.reply, request.type, outcome.data, 'reply')
      reply.data = outcome.data ?? null
    }
    await this.replyVia([reply])
  }

  private envelopeFor(event: AnyEventDefinition, data: unknown, options?: PublishOptions, now = Date.now()): Envelope {
    if (!event || typeof event.type !== 'string' || !event.schema) {
      throw new ConfigError('publish(event, data): event must come from defineEvent(type, schema)')
    }
    parseData(event.schema, event.type, data, 'publish')
    const envelope: Envelope = {
      specversion: '1.0',
      id: options?.id ?? newEventId(now),
      source: this.source,
      type: event.type,
      time: isoAt(now),
      datacontenttype: 'application/json',
      data,
      dataversion: event.version,
    }
    if (options) this.applyOptions(envelope, options)
    return envelope
  }

  private applyOptions(envelope: Envelope, options: PublishOptions): void {
    if (
      options.id !== undefined &&
      (typeof options.id !== 'string' || options.id.length === 0 || options.id.length > 200)
    ) {
      throw new ConfigError('publish option id must be a non-empty string of at most 200 characters')
    }
    if (options.key !== undefined) {
      if (typeof options.key !== 'string' || options.key.length === 0 || options.key.length > 256) {
        throw new ConfigError('publish option key must be a non-empty string of at most 256 characters')
      }
      envelope.subject = options.key
    }
    if (options.correlationId !== undefined) envelope.correlationid = options.correlationId
    if (options.traceparent !== undefined) {
      if (!parseTraceparent(options.traceparent)) {
        throw new ConfigError(
          'publish option traceparent must be W3C Trace Context: 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>, ids not all zero',
        )
      }
      envelope.traceparent = options.traceparent
    }
    if (options.tracestate !== undefined) {
      if (
        typeof options.tracestate !== 'string' ||
        options.tracestate.length > MAX_TRACESTATE_LENGTH ||
        options.traceparent === undefined
      ) {
        throw new ConfigError(
          `publish option tracestate must be a string of at most ${MAX_TRACESTATE_LENGTH} characters, sent with a traceparent`,
        )
      }
      envelope.tracestate = options.tracestate
    }
    if (options.headers) {
      assertHeaders(options.headers)
      Object.assign(envelope, options.headers)
    }
    if (options.delayMs !== undefined && options.delayMs > 0) {
      if (!capabilitiesOf(this.transport, envelope.type).delay) {
        throw new ConfigError(
          `the ${this.transport.name} tier does not support delayed delivery (delayMs); schedule the publish in your app instead`,
        )
      }
      envelope.deliverat = new Date(Date.now() + options.delayMs).toISOString()
    }
  }
}
