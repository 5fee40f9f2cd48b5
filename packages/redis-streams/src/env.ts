import { ConfigError, type Env, type Transport } from '@tierbus/core'
import { envVar, parseEnv } from '@tierbus/core/adapter'
import { z } from 'zod'
import { redisTransport } from './ioredis.js'
import { assertKeyPrefix } from './keys.js'
import { REDIS_STREAMS_DEFAULTS, type RedisStreamsOptions } from './options.js'
import { upstashTransport } from './upstash.js'

const CommonEnv = z.object({
  TIERBUS_REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_.:{}-]{1,100}$/, "1-100 letters, digits, '_', '.', ':', '-' or a {hash-tag}").optional(),
  TIERBUS_REDIS_MAXLEN: envVar.nonNegativeInt().optional(),
})

const REDIS_URL = envVar.url(['redis', 'rediss'], 'redis://127.0.0.1:6379')
export const RedisEnv = CommonEnv.extend({
  REDIS_URL: REDIS_URL.optional(),
  TIERBUS_REDIS_URL: REDIS_URL.optional(),
})

export const UpstashEnv = CommonEnv.extend({
  UPSTASH_REDIS_REST_URL: envVar.url(['https', 'http'], 'https://<name>.upstash.io'),
  UPSTASH_REDIS_REST_TOKEN: z.string().min(1, 'the REST token from the Upstash console'),
})

function parse<T extends z.ZodType>(schema: T, env: Env, kind: string): z.infer<T> {
  return parseEnv(schema, env, `TIERBUS_TRANSPORT=${kind}`)
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
 * `tierbus`) and TIERBUS_REDIS_MAXLEN (entries kept per stream, never past what a group has not settled; 0 keeps everything).
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
