import type { Env, TierAdapter, Transport } from '@tierbus/core'
import { commonOptions, parse, UpstashEnv } from './env-schema.js'
import { upstashTransport } from './upstash.js'

/**
 * Builds the upstash transport from UPSTASH_REDIS_REST_URL, UPSTASH_REDIS_REST_TOKEN, TIERBUS_REDIS_PREFIX and
 * TIERBUS_REDIS_MAXLEN.
 */
export function upstashFromEnv(env: Env): Promise<Transport> {
  const vars = parse(UpstashEnv, env, 'upstash')
  return upstashTransport({
    url: vars.UPSTASH_REDIS_REST_URL,
    token: vars.UPSTASH_REDIS_REST_TOKEN,
    ...commonOptions(vars),
  })
}

/** `TIERBUS_TRANSPORT=upstash` (UPSTASH_REDIS_REST_URL, UPSTASH_REDIS_REST_TOKEN): Redis over HTTP, Edge included. */
export const upstashAdapter: TierAdapter = Object.freeze<TierAdapter>({
  kind: 'upstash',
  install: '@tierbus/redis-streams @upstash/redis',
  env: UpstashEnv,
  create: upstashFromEnv,
})
