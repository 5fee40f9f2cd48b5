// Issue 11, item 8: a dead letter nested 5,000 levels deep, written raw into the tier, is listed as
// malformed (raw text + reason) by deadLetters.list() and `tierbus dlq list --json`, never failing the listing.

import { type CliIo, runCli } from '@tierbus/cli'
import { uniqueToken } from '@tierbus/core/testing'
import { postgresTransport } from '@tierbus/db-realtime'
import { redisTransport } from '@tierbus/redis-streams'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const DATABASE_URL = process.env.TIERBUS_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const DEPTH = 5_000
const deepData = `${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}`
const deepEnvelope = (type: string) =>
  `{"specversion":"1.0","id":"${uniqueToken('deep')}","source":"attacker","type":"${type}","time":"${new Date().toISOString()}","data":${deepData}}`

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

async function dlqListJson(
  env: Record<string, string>,
): Promise<Array<{ raw?: string; envelope?: unknown; reason: { kind: string; error: string } }>> {
  const out: string[] = []
  const err: string[] = []
  const io: CliIo = {
    env: { TIERBUS_SOURCE: 'dlq-deep-test', ...env },
    out: (t) => void out.push(t),
    err: (t) => void err.push(t),
  }
  expect(await runCli(['dlq', 'list', '--json'], io), err.join('\n')).toBe(0)
  return JSON.parse(out.join('\n'))
}

describe('a 5,000-deep dead letter written raw into the tier', () => {
  it('redis: is listed with its raw text and a malformed reason, next to a good one', async () => {
    const prefix = `tbtest:deep:${uniqueToken()}`
    const transport = await redisTransport({ url: REDIS_URL, prefix })
    const admin = new Redis(REDIS_URL)
    cleanups.push(async () => {
      await transport.close()
      const keys = await admin.keys(`${prefix}:*`)
      if (keys.length) await admin.del(...keys)
      await admin.quit()
    })
    const key = transport.keys.deadLetters('g')
    await admin.xadd(key, '*', 'payload', deepEnvelope('orders.deep'))
    await admin.xadd(
      key,
      '*',
      'payload',
      '{"not": "an envelope"}',
      'reason',
      JSON.stringify({ kind: 'handler-failed', error: 'boom', attempts: 3 }),
    )
    await admin.sadd(transport.keys.deadLetterGroups, 'g')

    const listed = await transport.deadLetters.list()
    expect(listed).toHaveLength(2)
    expect(listed[0]!.envelope).toBeUndefined()
    expect(listed[0]!.raw).toContain(deepData)
    expect(listed[0]!.reason).toMatchObject({ kind: 'malformed' })
    expect(listed[0]!.reason.error).toContain(`nested deeper than`)
    expect(listed[1]!.reason).toMatchObject({ kind: 'handler-failed', error: 'boom' })

    const cli = await dlqListJson({ TIERBUS_TRANSPORT: 'redis', REDIS_URL, TIERBUS_REDIS_PREFIX: prefix })
    expect(cli).toHaveLength(2)
    expect(cli[0]!.raw).toContain(deepData)
    expect(cli[0]!.reason.kind).toBe('malformed')
  })

  it('postgres: an event row 5,000 levels deep with a dead-letter row is listed raw with the reason', async () => {
    const schema = uniqueToken('tb_deep_').toLowerCase()
    const transport = await postgresTransport({ url: DATABASE_URL, schema, onError: () => {} })
    const client = new pg.Client({ connectionString: DATABASE_URL })
    await client.connect()
    cleanups.push(async () => {
      await transport.close()
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await client.end()
    })
    const { rows } = await client.query<{ seq: string }>(
      `INSERT INTO "${schema}".events (id, type, source, data) VALUES ($1, 'orders.deep', 'attacker', $2::jsonb) RETURNING seq`,
      [uniqueToken('deep'), deepData],
    )
    await client.query(
      `INSERT INTO "${schema}".dead_letters (group_name, pattern, seq, kind, error, attempts) VALUES ('g', 'orders.deep', $1, 'handler-failed', 'written raw', 1)`,
      [rows[0]!.seq],
    )

    const listed = await transport.deadLetters.list()
    expect(listed).toHaveLength(1)
    expect(listed[0]!.envelope).toBeUndefined()
    expect(listed[0]!.raw).toContain('['.repeat(DEPTH))
    expect(listed[0]!.reason.error).toBe('written raw')

    const cli = await dlqListJson({ TIERBUS_TRANSPORT: 'postgres', DATABASE_URL, TIERBUS_DB_SCHEMA: schema })
    expect(cli).toHaveLength(1)
    expect(cli[0]!.raw).toContain('['.repeat(DEPTH))
  })
})
