import { defineEvent } from '@tierbus/core'
import { pgliteAdapter, postgresAdapter, supabaseAdapter } from '@tierbus/db-realtime'
import { migrationAdapter } from '@tierbus/migrator'
import { natsAdapter } from '@tierbus/nats'
import { sharedBus, singleton } from '@tierbus/next'
import { redisAdapter, upstashAdapter } from '@tierbus/redis-streams'
import { sqsAdapter } from '@tierbus/sqs-sns'
import { z } from 'zod'

export const OrderPlaced = defineEvent('order.placed', z.object({ run: z.string(), n: z.number().int() }))

const adapters = [postgresAdapter, pgliteAdapter, supabaseAdapter, redisAdapter, upstashAdapter, sqsAdapter, natsAdapter, migrationAdapter]

/** The app's bus; TIERBUS_TRANSPORT picks the tier. */
export const getBus = () => sharedBus({ source: 'packed-app', events: [OrderPlaced], retry: { attempts: 2, backoff: { baseMs: 50, maxMs: 100 } }, adapters })

/** What the handler saw, and whether it should fail (to force a dead letter). */
export const state = singleton('packed-app:state', () => ({ failing: false, handled: new Set<string>() }))

/** Subscribes the handler once per server process (from instrumentation.ts). */
export async function startConsumer(): Promise<void> {
  await singleton('packed-app:consumer', async () => {
    const bus = await getBus()
    await bus.subscribe(
      OrderPlaced,
      (e) => {
        if (state.failing) throw new Error('downstream unavailable')
        state.handled.add(`${e.data.run}:${e.data.n}`)
      },
      { group: 'fulfilment' },
    )
  })
}
