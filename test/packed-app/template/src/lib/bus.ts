import { pgliteAdapter, postgresAdapter, supabaseAdapter } from '@tierbus/db-realtime'
import { migrationAdapter } from '@tierbus/migrator'
import { natsAdapter } from '@tierbus/nats'
import { sharedBus, singleton, startConsumers } from '@tierbus/next'
import { redisAdapter, upstashAdapter } from '@tierbus/redis-streams'
import { sqsAdapter } from '@tierbus/sqs-sns'
import { OrderPlaced } from './events'

export { OrderPlaced }

const adapters = [
  postgresAdapter,
  pgliteAdapter,
  supabaseAdapter,
  redisAdapter,
  upstashAdapter,
  sqsAdapter,
  natsAdapter,
  migrationAdapter,
]

const busOptions = {
  source: 'packed-app',
  events: [OrderPlaced],
  retry: { attempts: 2, backoff: { baseMs: 50, maxMs: 100 } },
  adapters,
}

/** The app's bus; TIERBUS_TRANSPORT picks the tier. */
export const getBus = () => sharedBus(busOptions)

/** What the handler saw, and whether it should fail (to force a dead letter). */
export const state = singleton('packed-app:state', () => ({
  failing: false,
  ready: false,
  transport: '',
  handled: new Set<string>(),
}))

/**
 * Subscribes the handler once per server process (from instrumentation.ts). startConsumers returns at
 * once and retries in the background while the tier is down, so the app starts either way.
 */
export function startConsumer(): void {
  void startConsumers(
    async (bus) => {
      await bus.subscribe(
        OrderPlaced,
        (e) => {
          if (state.failing) throw new Error('downstream unavailable')
          state.handled.add(`${e.data.run}:${e.data.n}`)
        },
        { group: 'fulfilment', leaseMs: 3_000 },
      )
      state.transport = bus.transport.name
      state.ready = true
    },
    { ...busOptions, initialDelayMs: 200, maxDelayMs: 1_000 },
  )
}
