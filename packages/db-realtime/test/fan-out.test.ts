import { createBus, defineEvent, outgoing } from '@tierbus/core'
import { eventually, quietPeriod, uniqueToken } from '@tierbus/core/testing'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { MIGRATIONS, migrate, migrationSql, postgresTransport, publishInTransaction } from '../src/index.js'
import { DATABASE_URL, dropSchema, envelope, freshPostgresTransport, freshSchema } from './helpers.js'

/** Events are written into each group's deliveries when they are inserted (migration 6). */
describe('postgres fan-out at write time', () => {
  const cleanups: Array<() => Promise<unknown>> = []
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()?.()
  })
  function pool(): pg.Pool {
    const p = new pg.Pool({ connectionString: DATABASE_URL, max: 3 })
    cleanups.push(() => p.end())
    return p
  }

  it('delivers a newer event while an older transaction is still open, and the older one when it commits: nothing lost', async () => {
    const t = await freshPostgresTransport()
    cleanups.push(() => t.close())
    const type = `${uniqueToken('late')}.x`
    const got: number[] = []
    const bus = createBus({ transport: t, source: 'test', closeTransport: false })
    cleanups.push(() => bus.close())
    await bus.subscribe(type, (e) => void got.push((e.data as { n: number }).n), { group: 'g' })

    const older = await pool().connect()
    try {
      await older.query('BEGIN')
      // Written first (the lower seq), committed last.
      await publishInTransaction(older, [envelope(type, 1)], { schema: t.schema })
      await t.publish([envelope(type, 2)])
      // The newer event does not wait for the older transaction (the old cursor design held it back).
      await eventually(() => got.includes(2), 'the newer event while the older transaction is open')
      expect(got).toEqual([2])
      await older.query('COMMIT')
    } finally {
      older.release()
    }
    await eventually(() => got.length === 2, 'the older event once its transaction committed')
    await quietPeriod(200)
    expect(got).toEqual([2, 1])
  })

  it("an 'earliest' group created on a long log copies it in steps and keeps per-key order across old and new events", async () => {
    // A small scan limit: the copy of 60 older events takes several claims, while new events keep arriving.
    const t = await freshPostgresTransport({ scanLimit: 7 })
    cleanups.push(() => t.close())
    const E = defineEvent(`${uniqueToken('bf')}.step`, z.object({ key: z.string(), n: z.number().int() }))
    const bus = createBus({ transport: t, source: 'test', closeTransport: false })
    cleanups.push(() => bus.close())
    const batch = (from: number, to: number) => {
      const out = []
      for (let n = from; n < to; n++) for (const key of ['a', 'b', 'c']) out.push(outgoing(E, { key, n }, { key }))
      return out
    }
    await bus.publishBatch(batch(0, 20))
    const seen = new Map<string, number[]>()
    const handler = (e: { data: { key: string; n: number } }) =>
      void seen.set(e.data.key, [...(seen.get(e.data.key) ?? []), e.data.n])
    const options = { group: 'replayer', ordered: true, startFrom: 'earliest', concurrency: 4 } as const
    await bus.subscribe(E, handler, options)
    await bus.subscribe(E, handler, options)
    await bus.publishBatch(batch(20, 30))
    const done = () => ['a', 'b', 'c'].every((k) => seen.get(k)?.length === 30)
    await eventually(done, () => `30 events of each key, got ${JSON.stringify(Object.fromEntries(seen))}`)
    for (const key of ['a', 'b', 'c']) expect(seen.get(key), key).toEqual(Array.from({ length: 30 }, (_, n) => n))
  })

  it('drop_group removes the group and its pending deliveries; later events are not fanned out to it', async () => {
    const t = await freshPostgresTransport()
    cleanups.push(() => t.close())
    const type = `${uniqueToken('dg')}.x`
    const spec = {
      pattern: type,
      group: 'temp',
      startFrom: 'latest',
      maxInFlight: 1,
      leaseMs: 30_000,
      maxAttempts: 1,
      ordered: false,
      ephemeral: true,
    } as const
    const inbox = await t.subscribe(spec, async () => {})
    const p = pool()
    const { rows: groups } = await p.query(`SELECT id FROM "${t.schema}".groups WHERE name = 'temp'`)
    expect(groups).toHaveLength(1)
    await inbox.close()
    await t.publish([envelope(type, 1)])
    const { rows } = await p.query(
      `SELECT (SELECT count(*)::int FROM "${t.schema}".groups) AS groups, (SELECT count(*)::int FROM "${t.schema}".deliveries) AS deliveries`,
    )
    expect(rows[0]).toEqual({ groups: 0, deliveries: 0 })
  })

  it('upgrades an install of migrations 1-5: events beyond a group cursor are delivered after migrating, none twice', async () => {
    const schema = freshSchema()
    cleanups.push(() => dropSchema(schema))
    const p = pool()
    const sql = migrationSql(schema)
    // The schema as versions 1-5 left it, recorded as such.
    await p.query(sql.slice(0, sql.indexOf('-- tierbus migration 6:')))
    for (const m of MIGRATIONS.filter((x) => x.version <= 5))
      await p.query(`INSERT INTO "${schema}".migrations (version, name) VALUES ($1, $2)`, [m.version, m.name])
    const type = `${uniqueToken('up')}.x`
    const call = (text: string, params: unknown[]) => p.query(`SELECT * FROM "${schema}".${text}`, params)
    const { rows: reg } = await call(
      'register_group(p_name => $1, p_pattern => $2, p_regex => $3, p_prefix => $4, p_start => $5, p_ephemeral => false)',
      ['old', type, `^${type.replace('.', '\\.')}$`, type, 'latest'],
    )
    const group = Number(reg[0].register_group)
    const all = Array.from({ length: 10 }, (_, n) => envelope(type, n))
    await call('publish(p_events => $1::jsonb)', [JSON.stringify(all)])
    // As the old claim leaves a group that took the first 4 events: its cursor after them, 3 of them still leased
    // (one was acked). Set by hand: the old claim only reads below the cluster-wide visibility horizon, which any
    // open transaction elsewhere on this shared server holds back.
    const { rows: first } = await p.query(`SELECT seq, tx_id FROM "${schema}".events ORDER BY seq LIMIT 4`)
    const last = first[3]
    await p.query(
      `UPDATE "${schema}".groups SET cursor_tx = $1::xid8, cursor_seq = $2, start_snapshot = NULL WHERE id = $3`,
      [last.tx_id, last.seq, group],
    )
    await p.query(
      `INSERT INTO "${schema}".deliveries (group_id, seq, available_at, attempt)
       SELECT $1, s, now() + interval '60 seconds', 1 FROM unnest($2::bigint[]) AS s`,
      [group, first.slice(1).map((r) => r.seq)],
    )

    expect((await migrate(p, { schema })).applied).toEqual(
      MIGRATIONS.filter((m) => m.version > 5).map((m) => m.version),
    )
    const t = await postgresTransport({ connectionString: DATABASE_URL, schema, onError: () => {} })
    cleanups.push(() => t.close())
    const got: number[] = []
    const bus = createBus({ transport: t, source: 'test', closeTransport: false })
    cleanups.push(() => bus.close())
    await bus.subscribe(type, (e) => void got.push((e.data as { n: number }).n), { group: 'old' })
    await t.publish([envelope(type, 10)])
    // 4..10 now; 1..3 once their 60 s lease ends (not waited for here); 0 was acked.
    await eventually(
      () => got.length >= 7,
      () => `events 4-10, got ${got}`,
    )
    await quietPeriod(300)
    expect(got.sort((a, b) => a - b)).toEqual([4, 5, 6, 7, 8, 9, 10])
    const { rows: left } = await p.query(`SELECT count(*)::int AS n FROM "${schema}".deliveries`)
    expect(left[0].n).toBe(3)
  })
})
