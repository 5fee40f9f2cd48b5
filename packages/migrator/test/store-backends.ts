import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll } from 'vitest'

export const REDIS_URL = 'redis://127.0.0.1:6379'
export const PG_URL = 'postgres://postgres@127.0.0.1:5432/test'

/**
 * A Redis client and a Postgres pool for a test file's migration stores; the schemas and key prefixes the
 * tests push are dropped, and the clients closed, after the file.
 */
export function storeBackends(poolSize = 4): { redis: Redis; pool: pg.Pool; schemas: string[]; prefixes: string[] } {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  const pool = new pg.Pool({ connectionString: PG_URL, max: poolSize })
  const schemas: string[] = []
  const prefixes: string[] = []
  afterAll(async () => {
    for (const s of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`)
    for (const p of prefixes) {
      const keys = await redis.keys(`${p}:*`)
      if (keys.length) await redis.del(...keys)
    }
    await pool.end()
    redis.disconnect()
  })
  return { redis, pool, schemas, prefixes }
}
