import { createBus, defineEvent, type Envelope, TransportError, ValidationError } from '@tierbus/core'
import { eventually, quietPeriod, uniqueToken } from '@tierbus/core/testing'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  type DbRealtimeTransport,
  postgresTransport,
  publishInTransaction,
  transactionTransport,
  transportFromEnv,
} from '../src/index.js'
import { DATABASE_URL, dropSchema, freshPostgresTransport, freshSchema } from './helpers.js'

const Item = z.object({ n: z.number().int() })

function envelope(type: string, n: number, extra: Partial<Envelope> = {}): Envelope {
  return {
    specversion: '1.0',
    id: uniqueToken('ev'),
    source: 'test',
    type,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data: { n },
    ...extra,
  }
}

describe('postgres transport', () => {
  const cleanups: Array<() => Promise<unknown>> = []
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!()
  })
  async function transport(options: Parameters<typeof freshPostgresTransport>[0] = {}): Promise<DbRealtimeTransport> {
    const t = await freshPostgresTransport(options)
    cleanups.push(() => t.close())
    return t
  }
  function pool(): pg.Pool {
    const p = new pg.Pool({ connectionString: DATABASE_URL, max: 2 })
    cleanups.push(() => p.end())
    return p
  }

  describe('transactional publish', () => {
    it('stores the event when the app transaction commits, and consumers receive it', async () => {
      const t = await transport()
      const type = `${uniqueToken('tx')}.created`
      const got: number[] = []
      const bus = createBus({ transport: t, source: 'test', closeTransport: false })
      cleanups.push(() => bus.close())
      await bus.subscribe(type, (e) => void got.push((e.data as { n: number }).n), { group: 'g' })
      const client = await pool().connect()
      try {
        await client.query('BEGIN')
        await client.query(`CREATE TABLE "${t.schema}".orders (id int PRIMARY KEY)`)
        await client.query(`INSERT INTO "${t.schema}".orders VALUES (1)`)
        expect(await publishInTransaction(client, [envelope(type, 1)], { schema: t.schema })).toBe(1)
        await client.query('COMMIT')
      } finally {
        client.release()
      }
      await eventually(() => got.length === 1, 'the committed event')
      expect(got).toEqual([1])
    })

    it('leaves no event when the app transaction rolls back, and nothing is delivered', async () => {
      const t = await transport()
      const type = `${uniqueToken('tx')}.created`
      const got: number[] = []
      const bus = createBus({ transport: t, source: 'test', closeTransport: false })
      cleanups.push(() => bus.close())
      await bus.subscribe(type, (e) => void got.push((e.data as { n: number }).n), { group: 'g' })
      const p = pool()
      const client = await p.connect()
      const doomed = envelope(type, 1)
      try {
        await client.query('BEGIN')
        await publishInTransaction(client, [doomed], { schema: t.schema })
        await client.query('ROLLBACK')
      } finally {
        client.release()
      }
      const { rows } = await p.query(`SELECT count(*)::int AS n FROM "${t.schema}".events WHERE id = $1`, [doomed.id])
      expect(rows[0].n).toBe(0)
      // A later committed event arrives alone: the consumer is live and the rolled-back one never existed.
      await t.publish([envelope(type, 2)])
      await eventually(() => got.length >= 1, 'the later event')
      await quietPeriod(300)
      expect(got).toEqual([2])
    })

    it('gives the typed bus API inside a transaction through transactionTransport', async () => {
      const t = await transport()
      const E = defineEvent(`${uniqueToken('tx')}.paid`, Item)
      const client = await pool().connect()
      try {
        await client.query('BEGIN')
        const txBus = createBus({
          transport: transactionTransport(client, { schema: t.schema }),
          source: 'test',
          closeTransport: false,
        })
        const sent = await txBus.publish(E, { n: 5 }, { key: 'order-1' })
        await client.query('COMMIT')
        const replayed: Envelope[] = []
        await t.replay({ pattern: E.type }, (e) => void replayed.push(e))
        expect(replayed.map((e) => [e.id, e.subject, e.data])).toEqual([[sent.id, 'order-1', { n: 5 }]])
        await expect(txBus.subscribe(E, () => {})).rejects.toThrow(/only publishes/)
      } finally {
        client.release()
      }
    })
  })

  it('refuses an event with a NUL character (jsonb cannot store it) with a ValidationError, writing nothing of the batch', async () => {
    const t = await transport()
    const type = `${uniqueToken('t')}.nul`
    const err = await t
      .publish([envelope(type, 1), { ...envelope(type, 2), data: { text: 'a\u0000b' } }])
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ValidationError)
    expect((err as Error).message).toMatch(/NUL character .* strip it before publishing/)
    const events: number[] = []
    await t.replay({ pattern: type }, (e) => void events.push((e.data as { n: number }).n))
    expect(events).toEqual([])
  })

  it('refuses a single event with a NUL character in its data or an attribute (the one-event INSERT path) with the same ValidationError', async () => {
    const t = await transport()
    const type = `${uniqueToken('t')}.nul1`
    for (const bad of [
      { ...envelope(type, 1), data: { text: 'a\u0000b' } },
      envelope(type, 2, { subject: 'a\u0000b' }),
      envelope(type, 3, { traceparent: 'x\u0000' }),
    ]) {
      const err = await t.publish([bad]).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ValidationError)
      expect((err as Error).message).toMatch(/NUL character .* strip it before publishing/)
    }
    await t.publish([envelope(type, 4, { subject: 'clean' })])
    const events: number[] = []
    await t.replay({ pattern: type }, (e) => void events.push((e.data as { n: number }).n))
    expect(events).toEqual([4])
  })

  it('replays events stamped in the very millisecond of the call when no end is given', async () => {
    const t = await transport()
    const type = `${uniqueToken('edge')}.x`
    // Stamped far ahead: a default end of "now" (the old behaviour) would leave it out.
    await t.publish([envelope(type, 1, { time: new Date(Date.now() + 60_000).toISOString() })])
    const seen: number[] = []
    await t.replay({ pattern: type }, (x) => void seen.push((x.data as { n: number }).n))
    expect(seen).toEqual([1])
    expect(await t.count({ pattern: type })).toBe(1)
  })

  it('skips an event id that is already stored (idempotent publish)', async () => {
    const t = await transport()
    const type = `${uniqueToken('idem')}.x`
    const e = envelope(type, 1)
    await t.publish([e])
    await t.publish([e, envelope(type, 2)])
    const seen: Envelope[] = []
    await t.replay({ pattern: type }, (x) => void seen.push(x))
    expect(seen.map((x) => (x.data as { n: number }).n)).toEqual([1, 2])
  })

  it('stores a single publish (a plain INSERT of the columns) exactly as a batch (the publish function): every attribute round-trips', async () => {
    const t = await transport()
    const type = `${uniqueToken('row')}.x`
    const attrs = {
      subject: 'order/7',
      dataversion: 3,
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      deliverat: new Date(Date.now() - 1_000).toISOString(),
    }
    const single = envelope(type, 1, attrs)
    const batched = [envelope(type, 2, attrs), envelope(type, 3)]
    await t.publish([single])
    await t.publish([single]) // the same id again: skipped, as in a batch
    await t.publish(batched)
    const seen: Envelope[] = []
    await t.replay({ pattern: type }, (x) => void seen.push(x))
    expect(seen).toEqual([single, ...batched])
    const rows = await pool().query(
      `SELECT id, subject, extras, deliver_at IS NOT NULL AS delayed FROM "${t.schema}".events WHERE type = $1 ORDER BY seq`,
      [type],
    )
    const [one, two] = rows.rows
    expect(rows.rows).toHaveLength(3)
    expect({ ...one, id: undefined }).toEqual({ ...two, id: undefined })
    expect(one).toMatchObject({
      subject: 'order/7',
      delayed: true,
      extras: { dataversion: 3, deliverat: attrs.deliverat },
    })
  })

  it('sends NOTIFY only for events that some group receives', async () => {
    const t = await transport()
    const type = `${uniqueToken('quiet')}.x`
    const listener = new pg.Client({ connectionString: DATABASE_URL })
    await listener.connect()
    cleanups.push(() => listener.end())
    const heard: string[] = []
    listener.on('notification', (m) => void heard.push(m.payload ?? ''))
    await listener.query(`LISTEN "${t.schema}_events"`)
    await t.publish([envelope(type, 1)])
    await t.publish([envelope(type, 2), envelope(type, 3)])
    const bus = createBus({ transport: t, source: 'test', closeTransport: false })
    cleanups.push(() => bus.close())
    const got: number[] = []
    await bus.subscribe(type, (e) => void got.push((e.data as { n: number }).n), { group: 'g', startFrom: 'latest' })
    // A marker that the listener's connection has seen everything sent before it.
    await pool().query(`SELECT pg_notify($1, 'marker')`, [`${t.schema}_events`])
    await eventually(() => heard.includes('marker'), 'the marker notification')
    expect(heard).toEqual(['marker'])
    await t.publish([envelope(type, 4)])
    await eventually(() => heard.includes(type), 'a notification for the event the group receives')
    await eventually(() => got.includes(4), 'the event delivered')
    expect(got).toEqual([4])
  })

  it('replays a time range of the log matching a wildcard, oldest first, without touching groups', async () => {
    const t = await transport()
    const prefix = uniqueToken('rp')
    const p = pool()
    await t.publish([envelope(`${prefix}.a.one`, 1), envelope(`${prefix}.b.one`, 2), envelope(`${prefix}.a.two`, 3)])
    // Move one event an hour back so the range excludes it.
    await p.query(`UPDATE "${t.schema}".events SET time = now() - interval '1 hour' WHERE type = $1`, [
      `${prefix}.a.two`,
    ])
    const seen: string[] = []
    const result = await t.replay(
      { pattern: `${prefix}.*.one`, from: new Date(Date.now() - 60_000), pageSize: 1 },
      (e) => void seen.push(e.type),
    )
    expect(seen).toEqual([`${prefix}.a.one`, `${prefix}.b.one`])
    expect(result).toEqual({ replayed: 2, skipped: 0 })
    const all: string[] = []
    await t.replay({ pattern: `${prefix}.a.*`, from: new Date(Date.now() - 7_200_000) }, (e) => void all.push(e.type))
    expect(all.sort()).toEqual([`${prefix}.a.one`, `${prefix}.a.two`])
  })

  it('delivers with polling only (push off) within the polling interval', async () => {
    const t = await transport({ push: false, pollIntervalMs: 100 })
    const type = `${uniqueToken('poll')}.x`
    const got: number[] = []
    const bus = createBus({ transport: t, source: 'test', closeTransport: false })
    cleanups.push(() => bus.close())
    await bus.subscribe(type, (e) => void got.push((e.data as { n: number }).n), { group: 'g' })
    await t.publish([envelope(type, 1)])
    await eventually(() => got.length === 1, 'the polled event', { timeoutMs: 2_000 })
  })

  it('reconnects its LISTEN connection after the server kills it, and push keeps working', async () => {
    // Polling every 60 s: a delivery within seconds can only come from a NOTIFY on the new connection.
    const t = await transport({ pollIntervalMs: 60_000, reconnectDelayMs: 50 })
    const type = `${uniqueToken('re')}.x`
    const got: number[] = []
    const bus = createBus({ transport: t, source: 'test', closeTransport: false })
    cleanups.push(() => bus.close())
    await bus.subscribe(type, (e) => void got.push((e.data as { n: number }).n), { group: 'g' })
    await t.publish([envelope(type, 1)])
    await eventually(() => got.length === 1, 'the first event by push')
    const p = pool()
    const listeners = async () =>
      (
        await p.query(`SELECT pid FROM pg_stat_activity WHERE query = $1 AND datname = current_database()`, [
          `LISTEN ${t.schema}_events`,
        ])
      ).rows.map((r) => r.pid as number)
    const [before] = await listeners()
    expect(before).toBeTypeOf('number')
    await p.query('SELECT pg_terminate_backend($1)', [before])
    await eventually(
      async () => {
        const now = await listeners()
        return now.length === 1 && now[0] !== before
      },
      'a new LISTEN connection',
      { timeoutMs: 5_000, intervalMs: 50 },
    )
    await t.publish([envelope(type, 2)])
    await eventually(() => got.length === 2, 'the second event by push after the reconnect', { timeoutMs: 5_000 })
  })

  it('fails at startup with a TransportError saying to migrate when the schema is missing', async () => {
    const schema = freshSchema()
    const err = await postgresTransport({ url: DATABASE_URL, schema, migrate: false }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TransportError)
    expect((err as Error).message).toMatch(new RegExp(`schema "${schema}" is missing or not migrated.*migrate\\(`))
  })

  it('fails at startup with a TransportError when the database is unreachable', async () => {
    const err = await postgresTransport({ url: 'postgres://postgres@127.0.0.1:1/test', schema: freshSchema() }).catch(
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(TransportError)
    expect((err as Error).message).toMatch(/ECONNREFUSED/)
  })

  it('builds from env: DATABASE_URL and TIERBUS_DB_SCHEMA, and names the missing variable', async () => {
    const schema = freshSchema()
    cleanups.push(() => dropSchema(schema))
    const t = await transportFromEnv('postgres', { DATABASE_URL, TIERBUS_DB_SCHEMA: schema })
    cleanups.push(() => t.close())
    expect(t.name).toBe('postgres')
    expect((t as DbRealtimeTransport).schema).toBe(schema)
    await expect(transportFromEnv('postgres', {})).rejects.toThrow(/set DATABASE_URL/)
    await expect(transportFromEnv('postgres', { DATABASE_URL: 'mysql://x' })).rejects.toThrow(/DATABASE_URL/)
    await expect(transportFromEnv('postgres', { DATABASE_URL, TIERBUS_DB_SCHEMA: 'Bad-Name' })).rejects.toThrow(
      /TIERBUS_DB_SCHEMA/,
    )
    await expect(transportFromEnv('supabase', { SUPABASE_URL: 'https://x.supabase.co' })).rejects.toThrow(
      /SUPABASE_SERVICE_ROLE_KEY/,
    )
  })

  it("starts a 'latest' group after every committed event, even while an older transaction is still open", async () => {
    const t = await transport()
    const type = `${uniqueToken('lt')}.x`
    const p = pool()
    // An open writing transaction holds the visibility horizon back; 'latest' must still skip committed history.
    const holder = await p.connect()
    await holder.query('BEGIN')
    await holder.query('SELECT pg_current_xact_id()')
    try {
      await t.publish([envelope(type, 1), envelope(type, 2)])
      const got: number[] = []
      const bus = createBus({ transport: t, source: 'test', closeTransport: false })
      cleanups.push(() => bus.close())
      await bus.subscribe(type, (e) => void got.push((e.data as { n: number }).n), { group: 'late' })
      await holder.query('COMMIT')
      await t.publish([envelope(type, 3)])
      await eventually(() => got.length >= 1, 'the new event')
      await quietPeriod(300)
      expect(got).toEqual([3])
    } finally {
      await holder.query('ROLLBACK').catch(() => {})
      holder.release()
    }
  })
})
