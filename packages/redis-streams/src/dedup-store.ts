import { type ClaimResult, ConfigError, type DedupStore, dedupStateValue } from '@tierbus/core'

/** The one ioredis call a Redis dedup store makes (an `ioredis` `Redis` instance fits). */
export interface RedisEvalClient {
  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>
}

// Atomic claim: the key holds 'processing' (with a lease) or 'done' (with a TTL), each optionally
// followed by ':<holder>'; ARGV[2] is the claimant's holder ('' for none), who may claim its own key again.
const CLAIM = `local v = redis.call('GET', KEYS[1])
if v then
  local state, holder = string.match(v, '^([a-z]+):?(.*)$')
  if ARGV[2] == '' or holder ~= ARGV[2] then return state end
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[1])
return 'claimed'`
const COMPLETE = `redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
return 1`
const RELEASE = `local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 10) == 'processing' then return redis.call('DEL', KEYS[1]) end
return 0`

/** Options of `redisDedupStore`. */
export interface RedisDedupStoreOptions {
  /** Key prefix: a key is stored at `<prefix>:<key>` (default `tierbus:dedup`). */
  prefix?: string
}

const PREFIX = /^[A-Za-z0-9:_.-]{1,100}$/

/**
 * A dedup store in Redis (`idempotent({ store })`, the migrator's cross-tier dedup): one string per key
 * with a PX expiry, claimed and released by Lua scripts so each step is atomic across processes.
 */
export function redisDedupStore(redis: RedisEvalClient, options: RedisDedupStoreOptions = {}): DedupStore {
  const prefix = options.prefix ?? 'tierbus:dedup'
  if (!PREFIX.test(prefix))
    throw new ConfigError(`invalid Redis key prefix ${JSON.stringify(prefix)}: use letters, digits, ':', '_', '.', '-'`)
  const keyOf = (key: string) => `${prefix}:${key}`
  const ms = (value: number) => Math.max(1, Math.round(value))
  return {
    async claim(key, leaseMs, holder) {
      return (await redis.eval(
        CLAIM,
        1,
        keyOf(key),
        ms(leaseMs),
        holder ?? '',
        dedupStateValue('processing', holder),
      )) as ClaimResult
    },
    async complete(key, ttlMs, holder) {
      await redis.eval(COMPLETE, 1, keyOf(key), ms(ttlMs), dedupStateValue('done', holder))
    },
    async release(key) {
      await redis.eval(RELEASE, 1, keyOf(key))
    },
  }
}
