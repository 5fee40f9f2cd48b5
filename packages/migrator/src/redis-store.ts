import { ConfigError } from '@tierbus/core'
import { redisDedupStore } from '@tierbus/redis-streams'
import { assertPhaseStep, storedPhase } from './phase-transitions.js'
import type { Phase } from './phases.js'
import type { MigrationStore, PhaseChange } from './store.js'

/** The ioredis calls this store makes (an `ioredis` `Redis` instance fits). */
export interface RedisLike {
  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>
  get(key: string): Promise<string | null>
  rpush(key: string, value: string): Promise<unknown>
  lrange(key: string, start: number, stop: number): Promise<string[]>
  quit(): Promise<unknown>
}

// Compare-and-set of the phase, atomically with its history entry ('' stands for "no phase stored").
const WRITE_PHASE = `if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[3])
return 1`

/** Options of `redisMigrationStore`. */
export interface RedisMigrationStoreOptions {
  /** Key prefix (default `tierbus:migration`). */
  prefix?: string
  /** Quit the client in `close()` (default false: the caller owns it). */
  ownsClient?: boolean
}

/** Migration state in Redis: dedup keys with PX expiry, the phase in a key, history in a list. */
export function redisMigrationStore(redis: RedisLike, options: RedisMigrationStoreOptions = {}): MigrationStore {
  const prefix = options.prefix ?? 'tierbus:migration'
  if (!/^[A-Za-z0-9:_.-]{1,100}$/.test(prefix))
    throw new ConfigError(`invalid Redis key prefix ${JSON.stringify(prefix)}: use letters, digits, ':', '_', '.', '-'`)
  return {
    ...redisDedupStore(redis, { prefix: `${prefix}:dedup` }),
    async readPhase(migration) {
      const v = await redis.get(`${prefix}:phase:${migration}`)
      return v === null ? undefined : storedPhase(migration, v)
    },
    async writePhase(migration, phase: Phase, expected) {
      assertPhaseStep(migration, expected, phase)
      const at = new Date().toISOString()
      const written = await redis.eval(
        WRITE_PHASE,
        2,
        `${prefix}:phase:${migration}`,
        `${prefix}:history:${migration}`,
        expected ?? '',
        phase,
        JSON.stringify({ phase, at }),
      )
      return Number(written) === 1
    },
    async history(migration) {
      return (await redis.lrange(`${prefix}:history:${migration}`, 0, -1)).map((s) => JSON.parse(s) as PhaseChange)
    },
    async close() {
      if (options.ownsClient) await redis.quit()
    },
  }
}
