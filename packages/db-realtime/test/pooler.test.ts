// The db tier through PgBouncer 1.18 in transaction mode (a private pgbouncer per file, killed by its PID).

import { ConfigError, createBus, defineEvent } from '@tierbus/core'
import { eventually, uniqueToken } from '@tierbus/core/testing'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { type PrivateBroker, startPgBouncer } from '../../../test/outage/brokers.js'
import { postgresOptionsFromEnv } from '../src/env.js'
import { poolerModeOf } from '../src/index.js'
import { DATABASE_URL, freshPostgresTransport } from './helpers.js'

const Item = z.object({ n: z.number().int() })

let bouncer: PrivateBroker
beforeAll(async () => {
  // One server connection: everything tierbus runs through the pooler lands on it, so it can be inspected.
  bouncer = await startPgBouncer({ poolSize: 1 })
}, 90_000)
afterAll(() => bouncer?.cleanup())

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

/** Runs one query on `url` with its own connection. */
async function queryOn(url: string, sql: string): Promise<Array<Record<string, unknown>>> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(sql)).rows
  } finally {
    await client.end()
  }
}

/** Publishes `count` events and waits until a group has handled them all, through `transport`. */
async function roundTrip(
  transport: Awaited<ReturnType<typeof freshPostgresTransport>>,
  count: number,
  timeoutMs = 20_000,
): Promise<number[]> {
  const Event = defineEvent(`${uniqueToken('pool')}.made`, Item)
  const bus = createBus({ transport, source: 'test', closeTransport: false })
  cleanups.push(() => bus.close())
  const got: number[] = []
  await bus.subscribe(Event, (e) => void got.push(e.data.n), { group: 'g', startFrom: 'earliest' })
  for (let n = 0; n < count; n++) await bus.publish(Event, { n })
  await eventually(() => got.length >= count, `${count} events handled through the pooler`, { timeoutMs })
  return got.sort((a, b) => a - b)
}

describe('postgres transport through PgBouncer in transaction mode', () => {
  it('delivers with no named prepared statement and no LISTEN left on the shared server connection', async () => {
    // ?pgbouncer=true is how Prisma marks a pooled URL; tierbus reads it the same way.
    const t = await freshPostgresTransport({ url: `${bouncer.url}?pgbouncer=true`, pollIntervalMs: 50 })
    cleanups.push(() => t.close())
    expect(await roundTrip(t, 10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(await t.deadLetters.list({ group: 'g' })).toEqual([])
    // Both queries run on the pool's single server connection, the one every tierbus statement above used.
    expect(await queryOn(bouncer.url, 'SELECT name FROM pg_prepared_statements')).toEqual([])
    expect(await queryOn(bouncer.url, 'SELECT pg_listening_channels() AS channel')).toEqual([])
  })

  it('LISTENs on the direct connection when given: a consumer polling once a minute wakes at once', async () => {
    const app = uniqueToken('direct').toLowerCase()
    const t = await freshPostgresTransport({
      url: bouncer.url,
      pooler: 'transaction',
      directConnectionString: `${DATABASE_URL}?application_name=${app}`,
      pollIntervalMs: 60_000,
    })
    cleanups.push(() => t.close())
    // Handled well within the poll interval: only a NOTIFY on the direct LISTEN connection can have woken it.
    expect(await roundTrip(t, 3, 15_000)).toEqual([0, 1, 2])
    const listeners = await queryOn(
      DATABASE_URL,
      `SELECT query FROM pg_stat_activity WHERE application_name = '${app}'`,
    )
    expect(listeners).toEqual([{ query: `LISTEN ${t.schema}_events` }])
    expect(await queryOn(bouncer.url, 'SELECT pg_listening_channels() AS channel')).toEqual([])
  })

  it('runs the migrations through the pooler (one transaction, a transaction-scoped advisory lock)', async () => {
    // freshPostgresTransport migrates a new schema; here through PgBouncer, twice at once.
    const [a, b] = await Promise.all([
      freshPostgresTransport({ url: bouncer.url, pooler: 'transaction', pollIntervalMs: 50 }),
      freshPostgresTransport({ url: bouncer.url, pooler: 'transaction', pollIntervalMs: 50 }),
    ])
    cleanups.push(
      () => a.close(),
      () => b.close(),
    )
    const rows = await queryOn(DATABASE_URL, `SELECT max(version) AS v FROM "${a.schema}".migrations`)
    expect(Number(rows[0]?.v)).toBeGreaterThanOrEqual(4)
    expect(await roundTrip(b, 2)).toEqual([0, 1])
  })
})

describe('pooler mode', () => {
  it('is detected from the URL the way Prisma and Supabase write it, and an explicit mode wins', () => {
    expect(poolerModeOf({ connectionString: 'postgres://u:p@db.example.com:6432/app?pgbouncer=true' })).toBe(
      'transaction',
    )
    expect(
      poolerModeOf({
        connectionString: 'postgres://postgres.ref:pw@aws-0-eu-west-1.pooler.supabase.com:6543/postgres',
      }),
    ).toBe('transaction')
    // Supavisor's session mode (port 5432) keeps a session per client: LISTEN and named statements work.
    expect(
      poolerModeOf({
        connectionString: 'postgres://postgres.ref:pw@aws-0-eu-west-1.pooler.supabase.com:5432/postgres',
      }),
    ).toBe('none')
    expect(poolerModeOf({ connectionString: 'postgres://postgres@127.0.0.1:5432/app' })).toBe('none')
    expect(poolerModeOf({ host: 'aws-0-us-east-1.pooler.supabase.com', port: 6543 })).toBe('transaction')
    expect(poolerModeOf({ connectionString: 'postgres://h:6543/app?pgbouncer=true' }, 'none')).toBe('none')
    expect(() => poolerModeOf({}, 'session' as never)).toThrow(ConfigError)
  })

  it('reads the pooled URL, DIRECT_URL and TIERBUS_DB_POOLER; DIRECT_URL pairs only with DATABASE_URL', () => {
    const pooled = 'postgres://u@pooler.example.com:6543/app'
    const direct = 'postgres://u@db.example.com:5432/app'
    expect(
      postgresOptionsFromEnv({ DATABASE_URL: pooled, DIRECT_URL: direct, TIERBUS_DB_POOLER: 'transaction' }),
    ).toMatchObject({
      url: pooled,
      directConnectionString: direct,
      pooler: 'transaction',
    })
    const own = postgresOptionsFromEnv({ TIERBUS_DATABASE_URL: pooled, DATABASE_URL: direct, DIRECT_URL: direct })
    expect(own.url).toBe(pooled)
    expect(own.directConnectionString).toBeUndefined()
    expect(
      postgresOptionsFromEnv({ TIERBUS_DATABASE_URL: pooled, TIERBUS_DIRECT_URL: direct }).directConnectionString,
    ).toBe(direct)
    expect(() => postgresOptionsFromEnv({ DATABASE_URL: pooled, TIERBUS_DB_POOLER: 'session' })).toThrow(
      /TIERBUS_DB_POOLER/,
    )
  })
})
