import type { Env } from '@tierbus/core'
import { envVar, parseEnv } from '@tierbus/core/adapter'
import { z } from 'zod'
import { assertKeyPrefix } from './keys.js'
import { REDIS_STREAMS_DEFAULTS, type RedisStreamsOptions } from './options.js'

// The env vars of the redis and upstash tiers, apart from the transports they build (so the upstash
// adapter, the edge entry's only tier, does not pull the ioredis code into an edge bundle).
const CommonEnv = z.object({
  TIERBUS_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:{}-]{1,100}$/, "1-100 letters, digits, '_', '.', ':', '-' or a {hash-tag}")
    .optional(),
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

/** Parses `env` with `schema`, failing with one ConfigError that names the tier. */
export function parse<T extends z.ZodType>(schema: T, env: Env, kind: string): z.infer<T> {
  return parseEnv(schema, env, `TIERBUS_TRANSPORT=${kind}`)
}

/** Options both Redis tiers read from env: key prefix and stream retention. */
export function commonOptions(vars: z.infer<typeof CommonEnv>): RedisStreamsOptions {
  const prefix = vars.TIERBUS_REDIS_PREFIX ?? REDIS_STREAMS_DEFAULTS.prefix
  assertKeyPrefix(prefix)
  return {
    prefix,
    ...(vars.TIERBUS_REDIS_MAXLEN !== undefined
      ? { retention: vars.TIERBUS_REDIS_MAXLEN === 0 ? false : { maxLen: vars.TIERBUS_REDIS_MAXLEN } }
      : {}),
  }
}
