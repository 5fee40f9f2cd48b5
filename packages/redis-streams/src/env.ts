import { ConfigError, type Env, type Transport } from '@tierbus/core'
import { z } from 'zod'
import { redisTransport } from './ioredis.js'
import { assertKeyPrefix } from './keys.js'
import { REDIS_STREAMS_DEFAULTS, type RedisStreamsOptions } from './options.js'
import { upstashTransport } from './upstash.js'

const CommonEnv = z.object({
  TIERBUS_REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_.:{}-]{1,100}$/, "1-100 letters, digits, '_', '.', ':', '-' or a {hash-tag}").optional(),
  TIERBUS_REDIS_MAXLEN: z.coerce.number().int().min(0).optional(),
})

export const RedisEnv = CommonEnv.extend({
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL').optional(),
  TIERBUS_REDIS_URL: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL').optional(),
})

export const UpstashEnv = CommonEnv.extend({
  UPSTASH_REDIS_REST_URL: z.string().regex(/^https?:\/\//, 'an https:// URL'),
  UPSTASH_REDIS_REST_TOKEN: z.string().min(1, 'the REST token from the Upstash console'),
})

function parse<T extends z.ZodType>(schema: T, env: Env, kind: string): z.infer<T> {
  const parsed = schema.safeParse(env)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const name = String(i.path[0])
      return `${name} ${env[name] === undefined ? 'is not set' : `is invalid`} (expected ${i.message})`
    })
    throw new ConfigError(`TIERBUS_TRANSPORT=${kind}: ${problems.join('; ')}`)
  }
  return parsed.data
}

function commonOptions(vars: z.infer<typeof CommonEnv>): RedisStreamsOptions {
  const prefix = vars.TIERBUS_REDIS_PREFIX ?? REDIS_STREAMS_DEFAULTS.prefix
  assertKeyPrefix(prefix)
  return {
    prefix,
    ...(vars.TIERBUS_REDIS_MAXLEN !== undefined ? { retention: vars.TIERBUS_REDIS_MAXLEN === 0 ? false : { maxLen: vars.TIERBUS_REDIS_MAXLEN } } : {}),
  }
}

/**
 * Builds the transport for `TIERBUS_TRANSPORT=redis` (REDIS_URL or TIERBUS_REDIS_URL) or `upstash`
 * (UPSTASH_REDIS_REST_URL, UPSTASH_REDIS_REST_TOKEN); both read TIERBUS_REDIS_PREFIX (default
 * `tierbus`) and TIERBUS_REDIS_MAXLEN (entries kept per stream, approximate; 0 keeps everything).
 */
export async function transportFromEnv(kind: string, env: Env): Promise<Transport> {
  if (kind === 'redis') {
    const vars = parse(RedisEnv, env, kind)
    const url = vars.TIERBUS_REDIS_URL ?? vars.REDIS_URL
    if (!url) throw new ConfigError('TIERBUS_TRANSPORT=redis: set REDIS_URL (or TIERBUS_REDIS_URL), e.g. redis://127.0.0.1:6379')
    return redisTransport({ url, ...commonOptions(vars) })
  }
  if (kind === 'upstash') {
    const vars = parse(UpstashEnv, env, kind)
    return upstashTransport({ url: vars.UPSTASH_REDIS_REST_URL, token: vars.UPSTASH_REDIS_REST_TOKEN, ...commonOptions(vars) })
  }
  throw new ConfigError(`@tierbus/redis-streams provides the redis and upstash transports, not '${kind}'`)
}
