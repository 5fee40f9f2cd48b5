import type { Envelope } from './envelope.js'
import { ConfigError } from './errors.js'
import type { ReceivedEvent } from './received.js'

/** How a delivery ended for its group: handled, handed back for another attempt, or dead-lettered. */
export type SettleOutcome = 'acked' | 'retried' | 'dead-lettered'

/** What a publish middleware sees: the tier and the envelopes about to be sent. */
export interface PublishContext {
  /** The tier: the transport's `name` (`memory`, `postgres`, `redis`, `nats`, `sqs`, ...). */
  readonly tier: string
  /** One envelope for `publish`, `request` and a reply; n for `publishBatch`. Already validated. */
  readonly envelopes: readonly Envelope[]
}

/** What a handle middleware sees: one delivery of one event to one subscription. */
export interface HandleContext {
  /** The event as the handler receives it (data already checked by its schema). */
  readonly event: ReceivedEvent<unknown>
  /** The subscription's consumer group. */
  readonly group: string
  /** 1 on first delivery, then the retry count plus one. */
  readonly attempt: number
  /** The tier: the transport's `name`. */
  readonly tier: string
  /**
   * Registers a listener called once, after the tier settled this delivery: `acked`, `retried` (another
   * attempt follows, including an in-place retry of an ordered lane) or `dead-lettered`. Not called when
   * the tier failed to settle it or `close()` abandoned it: the delivery then comes back after its lease,
   * with a new context. A listener that throws is reported to the bus's `onError`.
   */
  onSettled(listener: (outcome: SettleOutcome) => void): void
}

/** Sends envelopes on: to the next middleware, and from the innermost one to the tier. */
export type PublishNext = (envelopes: readonly Envelope[]) => Promise<void>

/**
 * Code around every publish and every handler run, registered with `bus.use(...)` or per subscription
 * (`subscribe(..., { middleware })`). The first registered is the outermost. Both hooks are optional.
 */
export interface Middleware {
  /** A name for error messages and logs. */
  readonly name?: string
  /**
   * Around every `publish`, `publishBatch`, `request` and reply send: call `next` with the envelopes to
   * send (the same, changed, or others); not calling it publishes nothing. A throw rejects the publish.
   * Only bus-level middleware has this hook called.
   */
  publish?(ctx: PublishContext, next: PublishNext): Promise<void>
  /**
   * Around every handler run: `next()` runs the inner middleware and the handler and resolves with the
   * handler's return value (the reply of a request). A throw counts as the handler failing (the
   * subscription's retry policy applies); what this resolves with is the handler's result.
   */
  handle?(ctx: HandleContext, next: () => Promise<unknown>): Promise<unknown>
}

/** Runs a delivery's handler through the middleware chain; resolves with the handler's result. */
export type HandleRun = (ctx: HandleContext) => Promise<unknown>

/** Throws a ConfigError unless `value` is a middleware object with function hooks. */
export function assertMiddleware(value: unknown, where: string): asserts value is Middleware {
  const m = value as Middleware | null
  const ok =
    typeof m === 'object' &&
    m !== null &&
    (m.publish === undefined || typeof m.publish === 'function') &&
    (m.handle === undefined || typeof m.handle === 'function') &&
    (m.publish !== undefined || m.handle !== undefined)
  if (!ok) {
    throw new ConfigError(
      `${where}: a middleware is an object with a publish(ctx, next) and/or handle(ctx, next) function, got ${describe(value)}`,
    )
  }
}

function describe(value: unknown): string {
  if (value === null || typeof value !== 'object') return value === null ? 'null' : typeof value
  const name = (value as Middleware).name
  return typeof name === 'string' ? `'${name}' without either` : 'an object without either'
}

/**
 * The publish chain: each middleware's `publish` around the next, `send` innermost. Built once when
 * middleware is registered; without publish hooks it is `send` itself (no cost per publish).
 */
export function composePublish(middleware: readonly Middleware[], tier: string, send: PublishNext): PublishNext {
  let next = send
  for (let i = middleware.length - 1; i >= 0; i--) {
    const m = middleware[i] as Middleware
    const hook = m.publish
    if (!hook) continue
    const inner = next
    next = (envelopes) => hook.call(m, { tier, envelopes }, inner)
  }
  return next
}

/**
 * The handle chain: each middleware's `handle` around the next, `handler` innermost. Undefined when no
 * middleware has a handle hook, so the consumer calls the handler directly (no cost per event).
 */
export function composeHandle(
  middleware: readonly Middleware[],
  handler: (event: ReceivedEvent<unknown>) => unknown,
): HandleRun | undefined {
  let run: HandleRun | undefined
  for (let i = middleware.length - 1; i >= 0; i--) {
    const m = middleware[i] as Middleware
    const hook = m.handle
    if (!hook) continue
    const inner: HandleRun = run ?? (async (ctx) => handler(ctx.event))
    run = (ctx) => hook.call(m, ctx, () => inner(ctx))
  }
  return run
}

/** The consumer's HandleContext: settle listeners are allocated only when one registers. */
export class DeliveryContext implements HandleContext {
  private listeners: Array<(outcome: SettleOutcome) => void> | undefined

  constructor(
    readonly event: ReceivedEvent<unknown>,
    readonly group: string,
    readonly tier: string,
  ) {}

  get attempt(): number {
    return this.event.attempt
  }

  onSettled(listener: (outcome: SettleOutcome) => void): void {
    if (typeof listener !== 'function') throw new ConfigError('onSettled(listener): listener must be a function')
    if (this.listeners) this.listeners.push(listener)
    else this.listeners = [listener]
  }

  /** Calls the listeners once with the outcome; `report` receives what a listener throws. */
  settled(outcome: SettleOutcome, report: (err: unknown) => void): void {
    const listeners = this.listeners
    if (!listeners) return
    this.listeners = undefined
    for (const listener of listeners) {
      try {
        listener(outcome)
      } catch (err) {
        report(err)
      }
    }
  }
}
