import { runCli } from '@tierbus/cli'
import { createBus, defineEvent } from '@tierbus/core'
import { eventually, uniqueToken } from '@tierbus/core/testing'
import { type DbRealtimeTransport, postgresTransport } from '@tierbus/db-realtime'
import { type BackfillProgress, backfill, progressBar } from '@tierbus/migrator'
import { redisTransport } from '@tierbus/redis-streams'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { z } from 'zod'

const DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test'
const REDIS_URL = 'redis://127.0.0.1:6379'
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
const cleanups: Array<() => Promise<unknown>> = []
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {})
  redis.disconnect()
})

const Feedback = defineEvent('feedback.created', z.object({ n: z.number().int() }))
const Other = defineEvent('billing.paid', z.object({ n: z.number().int() }))

/** A db tier with three batches of history: before `t1`, between `t1` and `t2`, after `t2`. */
async function historyWithThreeEras(): Promise<{
  source: DbRealtimeTransport
  schema: string
  t1: string
  t2: string
  middle: string[]
}> {
  const schema = uniqueToken('tbbf_')
  const source = await postgresTransport({ url: DATABASE_URL, schema, onError: () => {} })
  cleanups.push(async () => {
    const pool = new pg.Pool({ connectionString: DATABASE_URL })
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await pool.end()
  })
  const bus = createBus({ transport: source, source: 'history', closeTransport: false })
  const tick = () => new Promise((r) => setTimeout(r, 5))
  await bus.publishBatch(
    Feedback,
    Array.from({ length: 300 }, (_, n) => ({ n })),
  )
  await tick()
  const t1 = new Date().toISOString()
  await tick()
  const middle = (
    await bus.publishBatch(
      Feedback,
      Array.from({ length: 1_200 }, (_, n) => ({ n: 1000 + n })),
    )
  ).map((e) => e.id)
  await bus.publishBatch(Other, [{ n: 1 }, { n: 2 }])
  await tick()
  const t2 = new Date().toISOString()
  await tick()
  await bus.publishBatch(
    Feedback,
    Array.from({ length: 300 }, (_, n) => ({ n: 5000 + n })),
  )
  await bus.close()
  return { source, schema, t1, t2, middle }
}

async function idsInRedis(prefix: string): Promise<string[]> {
  const target = await redisTransport({ url: REDIS_URL, prefix, onError: () => {} })
  const bus = createBus({ transport: target, source: 'reader' })
  const ids: string[] = []
  await bus.subscribe('feedback.*', (e) => void ids.push(e.id), {
    group: 'reader',
    startFrom: 'earliest',
    concurrency: 64,
  })
  await eventually(
    async () => {
      const before = ids.length
      await new Promise((r) => setTimeout(r, 300))
      return ids.length === before && before > 0
    },
    'the target to be read to the end',
    { timeoutMs: 20_000 },
  )
  await bus.close()
  return ids
}

describe('backfill (db tier -> redis, real services)', () => {
  it('copies exactly the events of a time range and pattern, with their ids, reporting progress to the total', async () => {
    const { source, t1, t2, middle } = await historyWithThreeEras()
    const prefix = uniqueToken('tbtest:bf')
    cleanups.push(async () => {
      const keys = await redis.keys(`${prefix}*`)
      if (keys.length) await redis.del(...keys)
    })
    const target = await redisTransport({ url: REDIS_URL, prefix, onError: () => {} })
    const seen: BackfillProgress[] = []
    const result = await backfill({
      source,
      target,
      from: t1,
      to: t2,
      pattern: 'feedback.*',
      batchSize: 500,
      onProgress: (p) => void seen.push(p),
    })
    expect(result).toMatchObject({ copied: 1_200, total: 1_200, skipped: 0 })
    expect(seen.map((p) => p.copied)).toEqual([500, 1_000, 1_200, 1_200])
    expect(progressBar(seen[0]!)).toMatch(/^\[#{13}-{17}\] {2}42% {2}500\/1,200/)
    await target.close()
    await source.close()
    expect((await idsInRedis(prefix)).sort()).toEqual([...middle].sort())
  }, 60_000)

  it('tierbus backfill does the same from TIERBUS_MIGRATION, printing progress and a summary', async () => {
    const { source, schema, t1, t2 } = await historyWithThreeEras()
    await source.close()
    const prefix = uniqueToken('tbtest:bf')
    cleanups.push(async () => {
      const keys = await redis.keys(`${prefix}*`)
      if (keys.length) await redis.del(...keys)
    })
    const out: string[] = []
    const err: string[] = []
    const env = {
      TIERBUS_MIGRATION: 'postgres->redis',
      DATABASE_URL,
      TIERBUS_DB_SCHEMA: schema,
      REDIS_URL,
      TIERBUS_REDIS_PREFIX: prefix,
    }
    const code = await runCli(['backfill', '--from', t1, '--to', t2, '--pattern', 'feedback.>', '--batch', '400'], {
      env,
      out: (t) => void out.push(t),
      err: (t) => void err.push(t),
    })
    expect(err.join('\n')).toMatch(/\[#+\] 100% {2}1,200\/1,200/)
    expect(code).toBe(0)
    expect(out[0]).toMatch(/^copied 1,200 event\(s\) from postgres to redis in/)
    expect(await idsInRedis(prefix)).toHaveLength(1_200)
    const bad = await runCli(['backfill'], {
      env: { TIERBUS_MIGRATION: 'redis->sqs', REDIS_URL, AWS_REGION: 'us-east-1' },
      out: () => {},
      err: (t) => void err.push(t),
    })
    expect(bad).toBe(2)
    expect(err.at(-1)).toMatch(/backfill reads history from the db tier, but TIERBUS_MIGRATION's source is redis/)
  }, 60_000)
})
