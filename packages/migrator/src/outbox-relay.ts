import { type Bus, type BusSubscription, createBus, type Transport } from '@tierbus/core'

/** Options of `startOutboxRelay`. */
export interface OutboxRelayOptions {
  /** The db tier: its events table is the outbox the app writes in its own transactions. */
  source: Transport
  /** Where events are forwarded. */
  target: Transport
  /** Consumer group of the relay on the source (its checkpoint). */
  group?: string
  /** Events forwarded at once. */
  concurrency?: number
  /** How soon a dead relay's unfinished forwards are handed to another relay. */
  leaseMs?: number
  /** Failures nobody awaits (a forward that will be retried). */
  onError?: (error: unknown) => void
}

/** Defaults of `OutboxRelayOptions`. */
export const OUTBOX_RELAY_DEFAULTS = Object.freeze({ group: 'tierbus-outbox-relay', concurrency: 64 })

/** A running relay. */
export interface OutboxRelay {
  /** Events forwarded by this process. */
  readonly relayed: number
  /** Stops taking events and waits for forwards in flight. */
  close(options?: { timeoutMs?: number }): Promise<void>
}

/**
 * Forwards every event written to the source tier (the transactional outbox) to the target, at least
 * once and restart-safe: the relay is a consumer group on the source, so its checkpoint is the tier's
 * own group position and a killed relay's unfinished forwards come back after their lease. Run one per
 * app process (they compete) or as a dedicated process. Internal types (`_inbox.*`) are not relayed.
 */
export async function startOutboxRelay(options: OutboxRelayOptions): Promise<OutboxRelay> {
  const bus: Bus = createBus({
    transport: options.source,
    source: 'tierbus/outbox-relay',
    closeTransport: false,
    onError: (err) => options.onError?.(err),
  })
  let relayed = 0
  const sub: BusSubscription = await bus.subscribe(
    '>',
    async (event) => {
      await options.target.publish([event.envelope])
      relayed++
    },
    {
      group: options.group ?? OUTBOX_RELAY_DEFAULTS.group,
      concurrency: options.concurrency ?? OUTBOX_RELAY_DEFAULTS.concurrency,
      ...(options.leaseMs ? { leaseMs: options.leaseMs } : {}),
      // The target being down must not dead-letter the outbox: keep retrying, backing off to a minute.
      retry: { attempts: 1000, backoff: { baseMs: 200, maxMs: 60_000 } },
    },
  )
  return {
    get relayed() {
      return relayed
    },
    async close(closeOptions) {
      await sub.close(closeOptions)
      await bus.close(closeOptions)
    },
  }
}
