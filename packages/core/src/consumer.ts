import { LeaseKeeper } from './adapter/lease-keeper.js'
import { parseTime, wallAt } from './clock.js'
import type { Envelope } from './envelope.js'
import { describeError, ValidationError } from './errors.js'
import { type AnyEventDefinition, issuesOf, summarizeIssues } from './events.js'
import type { Metrics } from './metrics.js'
import { composeHandle, DeliveryContext, type HandleRun, type Middleware, type SettleOutcome } from './middleware.js'
import { type ReceivedEvent, ReceivedEventView } from './received.js'
import { backoffDelay, type RetryPolicy } from './retry.js'
import { SETTLED } from './settled.js'
import { replyToIssue } from './subjects.js'
import { DEAD_LETTER_KINDS, type DeadLetterReason, type Delivery, type SubscriptionSpec } from './transport.js'

/** True for a promise (or any thenable): what a handler returns when it is async. */
function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function'
}

/** Why a delivery is dead-lettered before its handler runs (a class: handler data can be any value). */
class Refusal {
  constructor(
    readonly kind: typeof DEAD_LETTER_KINDS.malformed | typeof DEAD_LETTER_KINDS.invalidPayload,
    readonly error: string,
  ) {}
}

/** A subscriber's function. Its return value is the reply when the event came from `bus.request()`. */
// biome-ignore lint/suspicious/noConfusingVoidType: void lets a handler that returns nothing type-check (undefined would not)
export type Handler<T = unknown, R = unknown> = (event: ReceivedEvent<T>) => R | void | Promise<R | void>

/** Where the runtime reports problems it cannot throw to anyone (a failed ack, a failed reply). */
export type ErrorListener = (
  error: unknown,
  info: { readonly phase: 'settle' | 'reply'; readonly group: string; readonly eventId?: string },
) => void

/** Everything the consumer runtime needs for one subscription. */
export interface ConsumerOptions {
  readonly spec: SubscriptionSpec
  readonly handler: Handler
  readonly concurrency: number
  readonly retry: RetryPolicy
  /** The event definition whose schema checks `data` of this type, if one is known. */
  readonly definitionFor: (type: string) => AnyEventDefinition | undefined
  /**
   * Sends a reply (or the failure) back to a requester. Set only for responders — subscriptions by
   * event definition — so a pattern subscriber that also sees requests (an audit log, a `>` firehose)
   * never answers them; and only a handler that returns a value replies.
   */
  readonly reply?: (request: Envelope, outcome: { data: unknown } | { error: string }) => Promise<void>
  readonly metrics?: Metrics
  readonly onError: ErrorListener
  /** The tier's name, as handle middleware sees it (default: `unknown`). */
  readonly tier?: string
  /** Handle middleware, outermost first (see `useMiddleware`). */
  readonly middleware?: readonly Middleware[]
}

/**
 * The consumer runtime shared by every transport: bounded concurrency, per-key ordering lanes,
 * schema checks, retry with backoff, dead-lettering, replies and graceful drain. A transport hands
 * it batches through `accept`; it pushes back by resolving `accept` only when it has room.
 */
export class Consumer {
  private pending = 0
  private running = 0
  /** True while pump() runs (see there). */
  private pumping = false
  /** Deliveries ready to start, from `readyHead` on (an index, not shift(): no copying per start). */
  private ready: Array<Delivery | undefined> = []
  private readyHead = 0
  private readonly lanes = new Map<string, Delivery[]>()
  private capacityWaiters: Array<() => void> = []
  private drainWaiters: Array<() => void> = []
  private abandoned = false
  /** The latest ack promise deliveries wait on together (see acking), until it settles. */
  private ackWaiting: { readonly promise: Promise<void>; readonly deliveries: Delivery[] } | undefined
  /** Ends the in-place retry sleeps of ordered lanes when the consumer is abandoned. */
  private readonly sleepers = new Set<() => void>()
  /** Renews the lease of handlers that run longer than half of it (SQS visibility, NATS `working`). */
  private readonly leases: LeaseKeeper<Delivery>

  /** This subscription's group counters (undefined without metrics, e.g. request-reply inboxes). */
  private readonly groupStats: ReturnType<Metrics['group']> | undefined
  /** The handler wrapped in handle middleware; undefined without any, and the handler is called directly. */
  private chain: HandleRun | undefined
  private readonly tier: string

  constructor(private readonly options: ConsumerOptions) {
    this.groupStats = options.metrics?.group(options.spec.group, options.spec.pattern)
    this.tier = options.tier ?? 'unknown'
    this.useMiddleware(options.middleware ?? [])
    // Only deliveries with touch() are tracked (see run()).
    this.leases = new LeaseKeeper(options.spec.leaseMs, (d) =>
      d.touch?.().catch((err) =>
        this.options.onError(err, {
          phase: 'settle',
          group: this.options.spec.group,
          ...(d.envelope ? { eventId: d.envelope.id } : {}),
        }),
      ),
    )
  }

  /** The transport's `onBatch`: queues the deliveries, starts what fits, resolves when there is room for more. */
  readonly accept = (batch: Delivery[]): Promise<void> => {
    const ordered = this.options.spec.ordered
    for (const d of batch) {
      this.pending++
      const key = ordered ? d.envelope?.subject : undefined
      if (key === undefined) this.ready.push(d)
      else {
        const lane = this.lanes.get(key)
        if (lane) lane.push(d)
        else {
          this.lanes.set(key, [])
          this.ready.push(d)
        }
      }
    }
    this.pump()
    if (this.pending < this.options.concurrency) return SETTLED
    return new Promise((resolve) => this.capacityWaiters.push(resolve))
  }

  /** Replaces the handle middleware (outermost first), composed once here, not per event; running handlers keep theirs. */
  useMiddleware(middleware: readonly Middleware[]): void {
    this.chain = composeHandle(middleware, this.options.handler as (event: ReceivedEvent<unknown>) => unknown)
  }

  /** Deliveries accepted and not yet finished. */
  get inFlight(): number {
    return this.pending
  }

  /**
   * Waits for accepted deliveries to finish, up to `timeoutMs`. On timeout the rest are abandoned
   * unsettled (the transport redelivers them after their lease) and false is returned.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.pending === 0) return true
    let timer: NodeJS.Timeout | undefined
    const drained = await Promise.race([
      new Promise<boolean>((resolve) => this.drainWaiters.push(() => resolve(true))),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ])
    clearTimeout(timer)
    if (!drained) {
      this.abandoned = true
      const sleepers = [...this.sleepers]
      this.sleepers.clear()
      for (const end of sleepers) end()
    }
    this.leases.stop()
    return drained
  }

  private pump(): void {
    // Not re-entered: a delivery that settles synchronously calls finish() (and so pump()) from inside
    // start(); this loop then goes on with the freed slot instead of recursing once per event.
    if (this.pumping) return
    this.pumping = true
    try {
      while (this.running < this.options.concurrency) {
        const d = this.nextReady()
        if (d === undefined) break
        this.running++
        this.start(d)
      }
    } finally {
      this.pumping = false
    }
  }

  /** Takes the first ready delivery, if any. */
  private nextReady(): Delivery | undefined {
    const ready = this.ready
    const i = this.readyHead
    // An empty queue is not reset (setting an array's length is a runtime call, per event when deliveries
    // come one at a time): the compaction below drops the taken front.
    if (i === ready.length) return undefined
    const d = ready[i]
    ready[i] = undefined
    this.readyHead = i + 1
    // A queue that never runs empty drops its taken front now and then, so it does not grow for ever.
    if (i >= 1024 && i * 2 >= ready.length) {
      this.ready = ready.slice(i + 1)
      this.readyHead = 0
    }
    return d
  }

  private finish(d: Delivery): void {
    if (d.touch) this.leases.untrack(d)
    this.running--
    this.pending--
    const key = this.options.spec.ordered ? d.envelope?.subject : undefined
    if (key !== undefined) {
      const lane = this.lanes.get(key)
      const next = lane?.shift()
      if (next) this.ready.push(next)
      else this.lanes.delete(key)
    }
    this.pump()
    if (this.pending < this.options.concurrency && this.capacityWaiters.length > 0) {
      const waiters = this.capacityWaiters
      this.capacityWaiters = []
      for (const w of waiters) w()
    }
    if (this.pending === 0 && this.drainWaiters.length > 0) {
      const waiters = this.drainWaiters
      this.drainWaiters = []
      for (const w of waiters) w()
    }
  }

  /**
   * Has the lease keeper renew `d`'s lease until it finishes. Called before each wait that lets the event
   * loop turn (an async handler, a reply, an in-place retry), not for every delivery: while a synchronous
   * handler runs no timer can fire, so tracking it would cost a map entry per event and renew nothing.
   */
  private keep(d: Delivery): void {
    if (d.touch && !this.abandoned) this.leases.track(d)
  }

  /**
   * Handles one delivery to its settlement, then frees its slot. The hot path is synchronous: a checked
   * event whose handler returns without a promise, needs no reply and is acked by a tier that settles at
   * once (`SETTLED`) costs no async frame and no microtask. Anything that has to wait (an async handler, a
   * reply, a failure, an ack that does I/O) goes on in an async method that ends with `finish(d)`.
   */
  private start(d: Delivery): void {
    const env = d.envelope
    if (!env) {
      void this.finishAfter(d, () =>
        this.deadLetterMalformed(d, d.malformed?.error ?? 'undecodable message', '(malformed)'),
      )
      return
    }
    let data: unknown
    try {
      data = this.admit(env)
    } catch (err) {
      // An unexpected throw (a schema that throws instead of reporting): rejected as before, slot freed.
      void this.finishAfter(d, () => Promise.reject(err))
      return
    }
    if (data instanceof Refusal) {
      void this.finishAfter(d, () => this.refuse(d, env, data))
      return
    }
    const attempt = d.attempt
    const started = performance.now()
    const event = new ReceivedEventView(env, data, attempt)
    const ctx = this.chain ? new DeliveryContext(event, this.options.spec.group, this.tier) : undefined
    let result: unknown
    try {
      result = ctx && this.chain ? this.chain(ctx) : this.options.handler(event)
    } catch (err) {
      void this.resume(d, env, data, attempt, started, ctx, err, true)
      return
    }
    // Await only real promises, and only when something waits: a synchronous handler settles here.
    if (isThenable(result) || (env.replyto && this.options.reply && result !== undefined)) {
      void this.resume(d, env, data, attempt, started, ctx, result, false)
      return
    }
    this.countAcked(env, started)
    if (this.abandoned) {
      this.finish(d)
      return
    }
    let acked: Promise<void>
    try {
      acked = d.ack()
    } catch (err) {
      this.settleFailed(d, err)
      this.finish(d)
      return
    }
    if (acked !== SETTLED) {
      this.acking(d, env, ctx, acked)
      return
    }
    if (this.groupStats) this.groupStats.acked++
    if (ctx) this.settled(ctx, 'acked', env)
    this.finish(d)
  }

  /** Runs a rare path (a refusal, a malformed message) to its end, then frees the slot. */
  private async finishAfter(d: Delivery, path: () => Promise<void>): Promise<void> {
    try {
      await path()
    } finally {
      this.finish(d)
    }
  }

  /**
   * Waits for an ack that does I/O, counts it, then frees the slot. Deliveries whose acks return the same
   * promise one after another (a tier whose coalesced acks share one per round trip) wait together: one
   * reaction per round trip, not per delivery. With handle middleware (`ctx`) each waits on its own.
   */
  private acking(d: Delivery, env: Envelope, ctx: DeliveryContext | undefined, acked: Promise<void>): void {
    const waiting = this.ackWaiting
    if (ctx === undefined && waiting !== undefined && waiting.promise === acked) {
      waiting.deliveries.push(d)
      return
    }
    if (ctx !== undefined) {
      this.ackedThen(acked, [d], ctx, env)
      return
    }
    const group = { promise: acked, deliveries: [d] }
    this.ackWaiting = group
    this.ackedThen(acked, group.deliveries, undefined, env, group)
  }

  /**
   * Two reactions on the promise rather than an async function: this runs per round trip (per delivery
   * with middleware), and an async frame that awaits allocated about twice as much.
   */
  private ackedThen(
    acked: Promise<void>,
    deliveries: readonly Delivery[],
    ctx: DeliveryContext | undefined,
    env: Envelope,
    group?: { promise: Promise<void> },
  ): void {
    // Promise.resolve: a transport written in plain JS may return a non-promise, which `await` accepted.
    // It returns a native promise itself, so it costs nothing on the usual path.
    Promise.resolve(acked).then(
      () => {
        if (group && this.ackWaiting === group) this.ackWaiting = undefined
        this.finishAll(deliveries, () => {
          if (this.groupStats) this.groupStats.acked++
          if (ctx) this.settled(ctx, 'acked', env)
        })
      },
      (err: unknown) => {
        if (group && this.ackWaiting === group) this.ackWaiting = undefined
        this.finishAll(deliveries, (d) => this.settleFailed(d, err))
      },
    )
  }

  /** Runs `then` for each delivery and frees its slot, every one even when `then` throws (the first throw is rethrown). */
  private finishAll(deliveries: readonly Delivery[], then: (d: Delivery) => void): void {
    let thrown: { error: unknown } | undefined
    for (const d of deliveries) {
      try {
        then(d)
      } catch (error) {
        thrown ??= { error }
      } finally {
        this.finish(d)
      }
    }
    if (thrown) throw thrown.error
  }

  /**
   * The rest of a delivery whose handler returned a promise, needs a reply, or threw (`threw`, with the
   * error as `outcome`): awaits, retries (an ordered lane in place), settles, then frees the slot. Kept
   * apart from start() on purpose: an async function that awaits stores all its registers per call.
   */
  private async resume(
    d: Delivery,
    env: Envelope,
    data: unknown,
    attempt: number,
    started: number,
    ctx: DeliveryContext | undefined,
    outcome: unknown,
    threw: boolean,
  ): Promise<void> {
    try {
      for (;;) {
        try {
          if (threw) throw outcome
          let result = outcome
          if (isThenable(result)) {
            this.keep(d)
            result = await result
          }
          if (env.replyto && this.options.reply && result !== undefined) {
            this.keep(d)
            await this.options.reply(env, { data: result })
          }
        } catch (err) {
          if (!(await this.failed(d, env, err, attempt, started, ctx))) return
          // An ordered lane retries in place: the next attempt runs here, at once.
          attempt++
          started = performance.now()
          const event = new ReceivedEventView(env, data, attempt)
          ctx = this.chain ? new DeliveryContext(event, this.options.spec.group, this.tier) : undefined
          try {
            outcome = ctx && this.chain ? this.chain(ctx) : this.options.handler(event)
            threw = false
          } catch (again) {
            outcome = again
            threw = true
          }
          continue
        }
        this.countAcked(env, started)
        if (this.abandoned) return
        try {
          const acked = d.ack()
          if (acked !== SETTLED) await acked
        } catch (err) {
          return this.settleFailed(d, err)
        }
        if (this.groupStats) this.groupStats.acked++
        return this.settled(ctx, 'acked', env)
      }
    } finally {
      this.finish(d)
    }
  }

  /** Counts a handler run that succeeded: one clock read for its run time, its end-to-end time and the rate. */
  private countAcked(env: Envelope, started: number): void {
    const metrics = this.options.metrics
    if (!metrics) return
    const end = performance.now()
    metrics.acked(env.type, end - started, parseTime(env.time), wallAt(end))
  }

  /** Counts a decoded delivery and checks it: the data to hand the handler (schema output), or why not. */
  private admit(env: Envelope): unknown {
    this.options.metrics?.delivered(env.type)
    if (this.groupStats) this.groupStats.delivered++
    // Tiers decode with this check already; an envelope handed over as an object (a custom transport)
    // with a forged reply target is refused before its handler runs, so nothing it returns goes anywhere.
    if (env.replyto !== undefined) {
      const replyIssue = replyToIssue(env.replyto)
      if (replyIssue) {
        return new Refusal(DEAD_LETTER_KINDS.malformed, `malformed event envelope: replyto: ${replyIssue}`)
      }
    }
    const definition = this.options.definitionFor(env.type)
    if (!definition) return env.data
    const parsed = definition.schema.safeParse(env.data)
    if (parsed.success) return parsed.data
    const error = new ValidationError(`received invalid '${env.type}': ${summarizeIssues(issuesOf(parsed.error))}`)
    return new Refusal(DEAD_LETTER_KINDS.invalidPayload, describeError(error))
  }

  /** Dead-letters a delivery `admit` refused; an invalid payload also fails its requester's wait. */
  private refuse(d: Delivery, env: Envelope, refusal: Refusal): Promise<void> {
    if (refusal.kind === DEAD_LETTER_KINDS.malformed) return this.deadLetterMalformed(d, refusal.error, env.type)
    return this.fail(d, env, { kind: refusal.kind, error: refusal.error, attempts: d.attempt })
  }

  /**
   * After a handler (or handle middleware) threw: counts it, then dead-letters on the last attempt, or
   * schedules a retry. Resolves true when an ordered lane retries in place (run again at once).
   */
  private async failed(
    d: Delivery,
    env: Envelope,
    err: unknown,
    attempt: number,
    started: number,
    ctx: DeliveryContext | undefined,
  ): Promise<boolean> {
    const { metrics, retry, spec } = this.options
    metrics?.failed(env.type, performance.now() - started)
    if (this.abandoned) return false
    if (attempt >= retry.attempts) {
      const reason = { kind: DEAD_LETTER_KINDS.handlerFailed, error: describeError(err), attempts: attempt }
      await this.fail(d, env, reason, ctx)
      return false
    }
    metrics?.retried(env.type)
    if (this.groupStats) this.groupStats.retried++
    const delay = backoffDelay(attempt, retry.backoff)
    if (!spec.ordered || env.subject === undefined) {
      if (await this.settle(d, () => d.retry(delay))) this.settled(ctx, 'retried', env)
      return false
    }
    // Ordered: retry in place so later events of the same key wait behind this one.
    this.keep(d)
    if (!(await this.sleep(delay))) return false
    this.settled(ctx, 'retried', env)
    return true
  }

  /** Dead-letters a message that is not a valid envelope at once (never retried, never replied to). */
  private async deadLetterMalformed(d: Delivery, error: string, type: string): Promise<void> {
    const reason = { kind: DEAD_LETTER_KINDS.malformed, error, attempts: d.attempt }
    if (await this.settle(d, () => d.deadLetter(reason))) {
      this.options.metrics?.deadLettered(type, reason.kind)
      if (this.groupStats) this.groupStats.deadLettered++
    }
  }

  /** Dead-letters, and tells a waiting requester that its request failed. */
  private async fail(d: Delivery, env: Envelope, reason: DeadLetterReason, ctx?: DeliveryContext): Promise<void> {
    if (env.replyto && this.options.reply) {
      try {
        this.keep(d)
        await this.options.reply(env, { error: reason.error })
      } catch (err) {
        this.options.onError(err, { phase: 'reply', group: this.options.spec.group, eventId: env.id })
      }
    }
    // Counted once the tier has written it, so metrics never run ahead of what deadLetters.list() shows.
    if (await this.settle(d, () => d.deadLetter(reason))) {
      this.options.metrics?.deadLettered(env.type, reason.kind)
      if (this.groupStats) this.groupStats.deadLettered++
      this.settled(ctx, 'dead-lettered', env)
    }
  }

  /** Tells a delivery's settle listeners (handle middleware) how it ended. */
  private settled(ctx: DeliveryContext | undefined, outcome: SettleOutcome, env: Envelope): void {
    const group = this.options.spec.group
    ctx?.settled(outcome, (err) => this.options.onError(err, { phase: 'settle', group, eventId: env.id }))
  }

  /** Runs a settle action; false when abandoned or when the tier failed it (the delivery comes back after its lease). */
  private async settle(d: Delivery, action: () => Promise<void>): Promise<boolean> {
    if (this.abandoned) return false
    try {
      await action()
      return true
    } catch (err) {
      this.settleFailed(d, err)
      return false
    }
  }

  private settleFailed(d: Delivery, err: unknown): void {
    this.options.metrics?.settleFailed()
    this.options.onError(err, {
      phase: 'settle',
      group: this.options.spec.group,
      ...(d.envelope ? { eventId: d.envelope.id } : {}),
    })
  }

  /**
   * Resolves true after `ms`, or false at once when the consumer is abandoned. A plain set of wake-ups,
   * not AbortSignal listeners: any number of lanes may sleep at once without a MaxListeners warning.
   */
  private sleep(ms: number): Promise<boolean> {
    if (this.abandoned) return Promise.resolve(false)
    return new Promise((resolve) => {
      const end = () => {
        clearTimeout(timer)
        resolve(false)
      }
      const timer = setTimeout(() => {
        this.sleepers.delete(end)
        resolve(true)
      }, ms)
      this.sleepers.add(end)
    })
  }
}
