// The assertions are the shared suite's: runTransportConformance in packages/core/src/testing/conformance.ts.
// A routed transport is a Transport too: here over a real Postgres, a real Redis and memory, so the suite's
// events cross tiers (its `<prefix>.item` cases on Postgres, wildcard agent subjects on Redis, the rest
// and request-reply requests in memory, reply inboxes on the first route: Postgres).
import {
  intersectCapabilities,
  MEMORY_CAPABILITIES,
  type MemoryTransportApi,
  memoryTransport,
  type RoutedTransport,
  routedTransport,
  type Transport,
} from '@tierbus/core'
import { runTransportConformance } from '@tierbus/core/testing'
import { DB_REALTIME_CAPABILITIES } from '@tierbus/db-realtime'
import { REDIS_CAPABILITIES, type RedisStreamsTransport } from '@tierbus/redis-streams'
import { afterAll } from 'vitest'
import { freshPostgresTransport, injectRawPg } from '../../packages/db-realtime/test/helpers.js'
import { adminClient, injectRawEntry, isolatedRedisTransport } from '../../packages/redis-streams/test/helpers.js'

const admin = adminClient()
afterAll(() => admin.quit())

const tiers = new WeakMap<
  Transport,
  { postgres: Transport; redis: RedisStreamsTransport; memory: MemoryTransportApi }
>()

async function freshRouter(): Promise<RoutedTransport> {
  const postgres = await freshPostgresTransport()
  const redis = await isolatedRedisTransport(admin)
  const memory = memoryTransport()
  const router = routedTransport({
    routes: [
      { match: '*.item', transport: postgres },
      { match: '*.agent.>', transport: redis },
      { match: '>', transport: memory },
    ],
  })
  tiers.set(router, { postgres, redis, memory })
  return router
}

runTransportConformance('routed postgres+redis+memory', freshRouter, {
  capabilities: intersectCapabilities([DB_REALTIME_CAPABILITIES, REDIS_CAPABILITIES, MEMORY_CAPABILITIES]),
  injectRaw: async (transport, type, raw) => {
    const own = tiers.get(transport)
    const target = (transport as RoutedTransport).transportOf(type)
    if (!own || !target) throw new Error(`no route for ${type}`)
    if (target === own.postgres) await injectRawPg(own.postgres, type, raw)
    else if (target === own.redis) await injectRawEntry(admin, own.redis, type, raw)
    else own.memory.injectRaw(type, raw)
  },
})
