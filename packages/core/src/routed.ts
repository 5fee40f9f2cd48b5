import { SharedIntake } from './adapter/shared-intake.js'
import { intersectCapabilities } from './capabilities.js'
import { combineDeadLetters } from './combined-dead-letters.js'
import type { Envelope } from './envelope.js'
import { ConfigError, TierbusError } from './errors.js'
import { RouteTable } from './route-table.js'
import { assertPublishableType } from './subjects.js'
import type { Capabilities, DeadLetterStore, Delivery, Subscription, SubscriptionSpec, Transport } from './transport.js'

/** One route of `routedTransport`: event types `match` matches go to `transport`. */
export interface TransportRoute {
  /** A subscription pattern (`coord.>`, `agent.*.heartbeat`); `>` is the catch-all. */
  readonly match: string
  readonly transport: Transport
}

/** Options of `routedTransport`. */
export interface RoutedTransportOptions {
  /**
   * First match wins. Request-reply inboxes (`_inbox.*`) and other tierbus-internal types take a route that
   * names them (`_inbox.>`), else the first route. Without a catch-all `>`, publishing a type no route
   * matches fails with a ConfigError.
   */
  readonly routes: readonly TransportRoute[]
}

/** A transport that sends each event class to its own tier (the hybrid the MisterSmith plan recommends). */
export interface RoutedTransport extends Transport {
  readonly routes: readonly TransportRoute[]
  /** The transport `type` is published to, or undefined when no route matches it. */
  transportOf(type: string): Transport | undefined
  /** What holds for the types `pattern` reaches: the intersection of the routes it touches. */
  capabilitiesFor(pattern: string): Capabilities
}

/**
 * One transport over several: `routedTransport({ routes: [{ match: 'coord.>', transport: nats },
 * { match: 'work.>', transport: sqs }, { match: '>', transport: redis }] })`. Publishing sends each event to
 * the first route matching its type (a batch is split by tier, order kept within a tier); a subscription
 * whose pattern spans several routes subscribes on each, through one intake (one `onBatch` at a time,
 * `maxInFlight` across all). `capabilities` is what every route can do; `capabilitiesFor(pattern)` what the
 * routes a pattern touches can. Dead letters of all tiers are one store (`<tier>:<id>` ids); `close` closes
 * every tier. A transport used by several routes is one tier (subscribed and closed once).
 */
export function routedTransport(options: RoutedTransportOptions): RoutedTransport {
  return new Router(options)
}

class Router implements RoutedTransport {
  readonly name: string
  readonly capabilities: Capabilities
  readonly routes: readonly TransportRoute[]
  readonly deadLetters: DeadLetterStore | undefined
  readonly orderingHint =
    'subscribe to a pattern whose routes all go to tiers that keep per-key order, or route its types to such a tier'
  private readonly table: RouteTable<Transport>
  private readonly tiers: readonly Transport[]
  private closing: Promise<void> | undefined

  constructor(options: RoutedTransportOptions) {
    const routes = options?.routes
    if (!Array.isArray(routes) || routes.some((r) => typeof r?.transport?.publish !== 'function')) {
      throw new ConfigError(
        'routedTransport({ routes }): routes must be an array of { match, transport } with a Transport each',
      )
    }
    this.routes = Object.freeze([...routes])
    this.table = new RouteTable(routes.map((r) => ({ match: r.match, target: r.transport })))
    this.tiers = [...new Set(routes.map((r) => r.transport))]
    this.name = `routed(${this.tiers.map((t) => t.name).join('+')})`
    this.capabilities = intersectCapabilities(this.tiers.map((t) => t.capabilities))
    this.deadLetters = combineDeadLetters(labelled(this.tiers).map(([label, t]) => [label, t.deadLetters] as const))
  }

  /** The route patterns, in order, for error messages. */
  private matches(): string {
    return this.routes.map((r) => r.match).join(', ')
  }

  transportOf(type: string): Transport | undefined {
    return this.table.targetOf(type)
  }

  capabilitiesFor(pattern: string): Capabilities {
    const tiers = this.table.targetsOf(pattern)
    return tiers.length === 0 ? this.capabilities : intersectCapabilities(tiers.map((t) => t.capabilities))
  }

  async publish(batch: readonly Envelope[]): Promise<void> {
    if (this.closing) throw new TierbusError('CLOSED', 'this routed transport is closed: create a new one')
    // Every envelope is routed before any is sent, so an unrouted type fails the batch with nothing published.
    const byTier = new Map<Transport, Envelope[]>()
    for (const envelope of batch) {
      assertPublishableType(envelope.type)
      const tier = this.table.targetOf(envelope.type)
      if (!tier) {
        throw new ConfigError(
          `no route for event type '${envelope.type}' (routes: ${this.matches()}): ` +
            "add a route that matches it, or end the table with a catch-all '>'",
        )
      }
      const list = byTier.get(tier)
      if (list) list.push(envelope)
      else byTier.set(tier, [envelope])
    }
    const [only] = byTier
    if (byTier.size === 1 && only) return only[0].publish(only[1])
    await settleAll([...byTier].map(([tier, envelopes]) => tier.publish(envelopes)))
  }

  async subscribe(spec: SubscriptionSpec, onBatch: (batch: Delivery[]) => Promise<void>): Promise<Subscription> {
    const tiers = this.table.targetsOf(spec.pattern)
    const [only] = tiers
    if (!only) {
      throw new ConfigError(
        `no route reaches pattern '${spec.pattern}' (routes: ${this.matches()}): ` +
          "add a route for its types, or a catch-all '>'",
      )
    }
    if (tiers.length === 1) return only.subscribe(spec, onBatch)
    const intake = new SharedIntake(spec.maxInFlight, spec.leaseMs, onBatch)
    const subs: Subscription[] = []
    const close = async () => {
      intake.close()
      await settleAll(subs.map((s) => s.close()))
    }
    try {
      for (const tier of tiers) subs.push(await tier.subscribe(spec, intake.deliver))
    } catch (err) {
      await close().catch(() => {})
      throw err
    }
    return { close }
  }

  close(): Promise<void> {
    this.closing ??= settleAll(this.tiers.map((t) => t.close()))
    return this.closing
  }
}

/** Waits for every promise; then rejects with the first failure, if any (so none is left unobserved). */
async function settleAll(promises: readonly Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(promises)).find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw failed.reason
}

/** Each tier with a dead-letter label: its name (`:` replaced), numbered when two tiers share a name. */
function labelled(tiers: readonly Transport[]): Array<readonly [string, Transport]> {
  const seen = new Map<string, number>()
  return tiers.map((t) => {
    const base = t.name.replace(/:/g, '_')
    const n = (seen.get(base) ?? 0) + 1
    seen.set(base, n)
    return [n === 1 ? base : `${base}-${n}`, t] as const
  })
}
