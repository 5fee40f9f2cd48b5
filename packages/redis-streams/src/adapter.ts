import type { TierAdapter } from '@tierbus/core'
import { RedisEnv, transportFromEnv, UpstashEnv } from './env.js'

/** `TIERBUS_TRANSPORT=redis` (REDIS_URL): pass to `createBusFromEnv({ adapters })`. */
export const redisAdapter: TierAdapter = Object.freeze<TierAdapter>({
  kind: 'redis',
  install: '@tierbus/redis-streams ioredis',
  env: RedisEnv,
  create: (env) => transportFromEnv('redis', env),
})

/** `TIERBUS_TRANSPORT=upstash` (UPSTASH_REDIS_REST_URL, UPSTASH_REDIS_REST_TOKEN): Redis over HTTP. */
export const upstashAdapter: TierAdapter = Object.freeze<TierAdapter>({
  kind: 'upstash',
  install: '@tierbus/redis-streams @upstash/redis',
  env: UpstashEnv,
  create: (env) => transportFromEnv('upstash', env),
})

/** Every adapter of this package. */
export const tierbusAdapters: readonly TierAdapter[] = Object.freeze([redisAdapter, upstashAdapter])
