import type { TierAdapter } from '@tierbus/core'
import { transportFromEnv } from './env.js'
import { RedisEnv } from './env-schema.js'
import { upstashAdapter } from './upstash-adapter.js'

export { upstashAdapter }

/** `TIERBUS_TRANSPORT=redis` (REDIS_URL): pass to `createBusFromEnv({ adapters })`. */
export const redisAdapter: TierAdapter = Object.freeze<TierAdapter>({
  kind: 'redis',
  install: '@tierbus/redis-streams ioredis',
  env: RedisEnv,
  create: (env) => transportFromEnv('redis', env),
})

/** Every adapter of this package. */
export const tierbusAdapters: readonly TierAdapter[] = Object.freeze([redisAdapter, upstashAdapter])
