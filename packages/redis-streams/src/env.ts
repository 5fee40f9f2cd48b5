import { ConfigError, type Env, type Transport } from '@tierbus/core'
import { commonOptions, parse, RedisEnv } from './env-schema.js'
import { redisTransport } from './ioredis.js'
import { upstashFromEnv } from './upstash-adapter.js'

/**
 * Builds the transport for `TIERBUS_TRANSPORT=redis` (REDIS_URL or TIERBUS_REDIS_URL) or `upstash`
 * (UPSTASH_REDIS_REST_URL, UPSTASH_REDIS_REST_TOKEN); both read TIERBUS_REDIS_PREFIX (default
 * `tierbus`) and TIERBUS_REDIS_MAXLEN (entries kept per stream, never past what a group has not settled; 0 keeps everything).
 */
export async function transportFromEnv(kind: string, env: Env): Promise<Transport> {
  if (kind === 'redis') {
    const vars = parse(RedisEnv, env, kind)
    const url = vars.TIERBUS_REDIS_URL ?? vars.REDIS_URL
    if (!url)
      throw new ConfigError(
        'TIERBUS_TRANSPORT=redis: set REDIS_URL (or TIERBUS_REDIS_URL), e.g. redis://127.0.0.1:6379',
      )
    return redisTransport({ url, ...commonOptions(vars) })
  }
  if (kind === 'upstash') return upstashFromEnv(env)
  throw new ConfigError(`@tierbus/redis-streams provides the redis and upstash transports, not '${kind}'`)
}
