import {
  type Bus,
  createBus,
  type DedupStore,
  defineEvent,
  idempotent,
  type Middleware,
  memoryDedupStore,
  type SettleOutcome,
} from '@tierbus/core'
import { eventually, gate, uniqueToken } from '@tierbus/core/testing'
import { postgresDedupStore } from '@tierbus/db-realtime'
import { redisDedupStore } from '@tierbus/redis-streams'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { DATABASE_URL, dropSchema, freshSchema } from '../packages/db-realtime/test/helpers.js'
import { deleteKeys, uniquePrefix } from '../packages/redis-streams/test/helpers.js'
import { EVERY_TIER, type TierName, tierKit } from './every-tier.js'

// Redeliveries are forced the way a dead or stalled process causes them: the first subscription is closed
// with a 10 ms drain budget while its delivery is unsettled, so core abandons it, stops renewing its lease,
// and the tier hands it to the group's other subscription once LEASE_MS has passed.
const LEASE_MS = 2_000
const kit = tierKit()
const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 })
const cleanups: Array<() => Promise<unknown>> = []
const buses: Bus[] = []
const stalled: Array<() => void> = []

afterEach(async () => {
  for (const release of stalled.splice(0)) release()
  await Promise.all(buses.splice(0).map((b) => b.close({ timeoutMs: 1_000 })))
  await Promise.all(cleanups.splice(0).map((c) => c()))
})
afterAll(async () => {
  await kit.close()
  await pool.end()
})

/** A dedup store of the kind a deployment of this tier would share between processes. */
async function storeFor(tier: TierName): Promise<DedupStore> {
  if (tier === 'memory') return memoryDedupStore()
  if (tier === 'redis' || tier === 'sqs') {
    const prefix = uniquePrefix('idem')
    cleanups.push(() => deleteKeys(kit.redis(), prefix))
    return redisDedupStore(kit.redis(), { prefix })
  }
  const schema = freshSchema()
  if (tier === 'pglite') {
    const db = await kit.pglite()
    cleanups.push(() => db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`))
    return postgresDedupStore(db, { schema })
  }
  cleanups.push(() => dropSchema(schema))
  return postgresDedupStore(pool, { schema })
}

/** Outermost middleware that records how each delivery reaching this subscription was settled. */
function settleLog(): { middleware: Middleware; arrived: number; outcomes: SettleOutcome[] } {
  const log = {
    arrived: 0,
    outcomes: [] as SettleOutcome[],
    middleware: {
      name: 'settle-log',
      handle: async (ctx, next) => {
        log.arrived++
        ctx.onSettled((outcome) => log.outcomes.push(outcome))
        return next()
      },
    } satisfies Middleware,
  }
  return log
}

describe.each(EVERY_TIER)('idempotent() on the %s tier', (tier) => {
  beforeAll(() => kit.prepare(tier), 60_000)

  async function setup() {
    const bus = createBus({ transport: await kit.transport(tier), source: 'idem-test', onError: () => {} })
    buses.push(bus)
    const Paid = defineEvent(`idem.${uniqueToken('p')}.paid`, z.object({ cents: z.number() }))
    return { bus, Paid, store: await storeFor(tier), charges: [] as string[] }
  }

  it('acks a redelivery without running the handler when the consumer died after the handler (consumer kill)', async () => {
    const { bus, Paid, store, charges } = await setup()
    const handledOnce = gate()
    const dead = gate()
    stalled.push(dead.open)
    // Dies between the handler (whose key idempotent() marked done) and the ack.
    const dieBeforeAck: Middleware = {
      handle: async (_ctx, next) => {
        const result = await next()
        handledOnce.open()
        await dead.promise
        return result
      },
    }
    const charge = (e: { id: string }) => void charges.push(e.id)
    const first = await bus.subscribe(Paid, charge, {
      group: 'billing',
      leaseMs: LEASE_MS,
      middleware: [dieBeforeAck, idempotent({ store })],
    })
    const sent = await bus.publish(Paid, { cents: 500 })
    await handledOnce.promise
    expect(await first.close({ timeoutMs: 10 })).toBe(false)

    const second = settleLog()
    await bus.subscribe(Paid, charge, {
      group: 'billing',
      leaseMs: LEASE_MS,
      middleware: [second.middleware, idempotent({ store })],
    })
    await eventually(
      () => second.outcomes.includes('acked'),
      () => `the redelivery acked (arrived ${second.arrived})`,
      { timeoutMs: 30_000 },
    )
    expect(second.arrived).toBe(1)
    expect(charges).toEqual([sent.id])
  })

  it('holds a copy redelivered while the first still runs (its lease ran out), then acks it without running (lease expiry)', async () => {
    const { bus, Paid, store, charges } = await setup()
    const running = gate()
    const finish = gate()
    stalled.push(finish.open)
    const first = await bus.subscribe(
      Paid,
      async (e) => {
        charges.push(e.id)
        running.open()
        await finish.promise // a stalled handler: core stops renewing its lease once the subscription gives up on it
      },
      { group: 'billing', leaseMs: LEASE_MS, middleware: [idempotent({ store })] },
    )
    const sent = await bus.publish(Paid, { cents: 700 })
    await running.promise
    expect(await first.close({ timeoutMs: 10 })).toBe(false)

    const second = settleLog()
    await bus.subscribe(Paid, (e) => void charges.push(e.id), {
      group: 'billing',
      leaseMs: LEASE_MS,
      middleware: [second.middleware, idempotent({ store })],
    })
    await eventually(() => second.arrived === 1, 'the redelivery of the expired lease', { timeoutMs: 30_000 })
    expect(second.outcomes).toEqual([]) // waiting on the first copy's claim
    finish.open()
    await eventually(() => second.outcomes.includes('acked'), 'the redelivery acked once the first copy finished', {
      timeoutMs: 10_000,
    })
    expect(charges).toEqual([sent.id])
  })

  it('runs the handler again on retry after it threw (the key is released)', async () => {
    const { bus, Paid, store, charges } = await setup()
    let calls = 0
    const log = settleLog()
    await bus.subscribe(
      Paid,
      (e) => {
        calls++
        if (calls === 1) throw new Error('gateway timeout')
        charges.push(e.id)
      },
      {
        group: 'billing',
        retry: { attempts: 3, backoff: { baseMs: 10, maxMs: 20 } },
        middleware: [log.middleware, idempotent({ store })],
      },
    )
    const sent = await bus.publish(Paid, { cents: 900 })
    await eventually(() => log.outcomes.includes('acked'), 'acked after one retry', { timeoutMs: 30_000 })
    expect(log.outcomes).toEqual(['retried', 'acked'])
    expect(charges).toEqual([sent.id])
  })
})
