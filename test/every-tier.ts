import { PGlite } from '@electric-sql/pglite'
import { memoryTransport, type Transport } from '@tierbus/core'
import { pgliteTransport } from '@tierbus/db-realtime'
import type { Redis } from 'ioredis'
import { freshPostgresTransport, freshSchema } from '../packages/db-realtime/test/helpers.js'
import { isolatedTransport as isolatedNatsTransport } from '../packages/nats/test/helpers.js'
import { adminClient, isolatedRedisTransport } from '../packages/redis-streams/test/helpers.js'
import {
  type Emulator,
  isolatedTransport as isolatedSqsTransport,
  startEmulator,
} from '../packages/sqs-sns/test/emulator.js'

/** Every tier tierbus ships, each on its real backing service (the SQS/SNS emulator and PGlite in-process). */
export const EVERY_TIER = ['memory', 'postgres', 'pglite', 'redis', 'sqs', 'nats'] as const
export type TierName = (typeof EVERY_TIER)[number]

/**
 * Opens isolated transports of any tier (own schema / key prefix / queue and stream names, removed on
 * close) and owns the per-file resources they share: one PGlite, one emulator, one Redis admin client.
 * A test file makes one, opens what it needs, and calls `close()` in `afterAll`.
 */
export function tierKit() {
  let pglite: Promise<PGlite> | undefined
  let emulator: Promise<Emulator> | undefined
  let admin: Redis | undefined
  const open = new Set<Transport>()
  const sharedPglite = (): Promise<PGlite> => {
    if (!pglite) pglite = PGlite.create()
    return pglite
  }
  const sharedEmulator = (): Promise<Emulator> => {
    if (!emulator) emulator = startEmulator()
    return emulator
  }
  const sharedRedis = (): Redis => {
    if (!admin) admin = adminClient()
    return admin
  }

  async function transport(tier: TierName): Promise<Transport> {
    const t = await create(tier)
    open.add(t)
    return t
  }

  async function create(tier: TierName): Promise<Transport> {
    switch (tier) {
      case 'memory':
        return memoryTransport()
      case 'postgres':
        return freshPostgresTransport()
      case 'pglite': {
        const db = await sharedPglite()
        const schema = freshSchema()
        const t = await pgliteTransport({ db, schema, onError: () => {} })
        const close = t.close.bind(t)
        return Object.assign(t, {
          close: async () => {
            await close()
            await db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
          },
        })
      }
      case 'redis':
        return isolatedRedisTransport(sharedRedis())
      case 'sqs':
        return isolatedSqsTransport((await sharedEmulator()).endpoint)
      case 'nats':
        return isolatedNatsTransport()
    }
  }

  return {
    transport,
    /** The PGlite the pglite transports of this kit share (e.g. for a dedup store beside them). */
    pglite: sharedPglite,
    /** The Redis admin client of this kit (for stores and cleanup). */
    redis: sharedRedis,
    /** Starts what a tier's transports share (PGlite takes seconds): call it in a `beforeAll` with a long timeout. */
    async prepare(tier: TierName): Promise<void> {
      if (tier === 'pglite') await sharedPglite()
      if (tier === 'sqs') await sharedEmulator()
    },
    /** Closes what is still open (idempotent per transport), then the shared resources. */
    async close(): Promise<void> {
      await Promise.all([...open].map((t) => t.close().catch(() => {})))
      open.clear()
      await (await pglite)?.close()
      await (await emulator)?.stop()
      await admin?.quit()
    },
  }
}
