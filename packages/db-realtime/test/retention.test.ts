import { ConfigError, createBus } from '@tierbus/core'
import { eventually, uniqueToken } from '@tierbus/core/testing'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { type DbRealtimeTransport, runMigrateCli } from '../src/index.js'
import { DATABASE_URL, envelope, freshPostgresTransport } from './helpers.js'

describe('postgres retention (prune)', () => {
  const cleanups: Array<() => Promise<unknown>> = []
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()?.()
  })
  async function setup(options: Parameters<typeof freshPostgresTransport>[0] = {}) {
    const t = await freshPostgresTransport(options)
    cleanups.push(() => t.close())
    const p = new pg.Pool({ connectionString: DATABASE_URL, max: 2 })
    cleanups.push(() => p.end())
    const left = async () =>
      (
        await p.query(`SELECT n FROM (SELECT (data->>'n')::int AS n, seq FROM "${t.schema}".events) e ORDER BY seq`)
      ).rows.map((r) => r.n as number)
    /** Makes every stored event look `ms` old. */
    const age = (ms: number) =>
      p.query(`UPDATE "${t.schema}".events SET created_at = now() - $1 * interval '1 millisecond'`, [ms])
    return { t, p, left, age }
  }
  async function consumeAll(t: DbRealtimeTransport, type: string, group: string, count: number) {
    const bus = createBus({ transport: t, source: 'test', closeTransport: false })
    let handled = 0
    const sub = await bus.subscribe(type, () => void handled++, { group })
    await eventually(() => handled === count, `${count} events handled by ${group}`)
    // Acks are flushed before the subscription's close resolves.
    await sub.close()
    await bus.close()
  }

  it('never removes an event a group has not settled, and removes it once settled', async () => {
    const { t, left, age } = await setup()
    const type = `${uniqueToken('rt')}.x`
    const bus = createBus({ transport: t, source: 'test', closeTransport: false })
    cleanups.push(() => bus.close())
    // The group exists before the events: they are pending for it until consumed.
    await (await bus.subscribe(type, () => {}, { group: 'slow' })).close()
    await t.publish([0, 1, 2, 3].map((n) => envelope(type, n)))
    await age(60_000)
    const held = await t.prune({ maxAgeMs: 1_000 })
    expect(held.deleted).toBe(0)
    expect(held.heldBy?.group).toBe('slow')
    expect(await left()).toEqual([0, 1, 2, 3])

    await consumeAll(t, type, 'slow', 4)
    const done = await t.prune({ maxAgeMs: 1_000 })
    expect(done).toMatchObject({ deleted: 4 })
    expect(done.heldBy).toBeUndefined()
    expect(await left()).toEqual([])
  })

  it('keeps events younger than maxAgeMs and the newest maxEvents, in steps of batchSize', async () => {
    const { t, left, age } = await setup()
    const type = `${uniqueToken('rt')}.x`
    await t.publish(Array.from({ length: 10 }, (_, n) => envelope(type, n)))
    await age(60_000)
    await t.publish([envelope(type, 10), envelope(type, 11)])
    const byAge = await t.prune({ maxAgeMs: 30_000, batchSize: 3 })
    expect(byAge.deleted).toBe(10)
    expect(byAge.steps).toBeGreaterThanOrEqual(4)
    expect(await left()).toEqual([10, 11])

    await t.publish(Array.from({ length: 5 }, (_, n) => envelope(type, 12 + n)))
    expect((await t.prune({ maxEvents: 3 })).deleted).toBe(4)
    expect(await left()).toEqual([14, 15, 16])
  })

  it('keeps an event a dead letter refers to', async () => {
    const { t, left } = await setup()
    const type = `${uniqueToken('rt')}.x`
    const bus = createBus({ transport: t, source: 'test', closeTransport: false, onError: () => {} })
    cleanups.push(() => bus.close())
    await bus.subscribe(
      type,
      (e) => {
        if ((e.data as { n: number }).n === 1) throw new Error('poison')
      },
      { group: 'dl', retry: { attempts: 1 } },
    )
    await t.publish([0, 1, 2].map((n) => envelope(type, n)))
    await eventually(async () => (await t.deadLetters.list({ group: 'dl' })).length === 1, 'the dead letter')
    // Every event is older than 1 ms; 0 and 2 go once their acks are stored, 1 stays for its dead letter.
    await eventually(async () => {
      await t.prune({ maxAgeMs: 1 })
      return (await left()).length === 1
    }, 'events 0 and 2 pruned')
    expect(await left()).toEqual([1])
    const [dead] = await t.deadLetters.list({ group: 'dl' })
    expect(dead?.envelope?.data).toEqual({ n: 1 })
  })

  it('prunes by itself with the retention option', async () => {
    const { t, left } = await setup({ retention: { maxEvents: 2, intervalMs: 50 } })
    const type = `${uniqueToken('rt')}.x`
    await t.publish(Array.from({ length: 6 }, (_, n) => envelope(type, n)))
    await eventually(async () => (await left()).length === 2, 'the automatic prune')
    expect(await left()).toEqual([4, 5])
  })

  it('prunes from the CLI (tierbus-db prune) and refuses a missing or malformed limit', async () => {
    const { t, left, age } = await setup()
    const type = `${uniqueToken('rt')}.x`
    await t.publish([0, 1, 2].map((n) => envelope(type, n)))
    await age(2 * 86_400_000)
    const env = { DATABASE_URL }
    expect(await runMigrateCli(['prune', '--schema', t.schema, '--max-age', '1d'], env)).toBe(
      `schema "${t.schema}": pruned 3 event(s) in 1 step(s)`,
    )
    expect(await left()).toEqual([])
    await expect(runMigrateCli(['prune', '--schema', t.schema], env)).rejects.toThrow(/maxAgeMs and\/or maxEvents/)
    await expect(runMigrateCli(['prune', '--schema', t.schema, '--max-age', '3 weeks'], env)).rejects.toThrow(
      /duration like 90d/,
    )
    await expect(runMigrateCli(['prune', '--max-events', '0'], env)).rejects.toBeInstanceOf(ConfigError)
    await expect(t.prune()).rejects.toThrow(/needs a policy/)
  })
})
