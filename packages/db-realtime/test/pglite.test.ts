import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { createBus, defineEvent, type Envelope } from '@tierbus/core'
import { eventually, quietPeriod, uniqueToken } from '@tierbus/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { type DbRealtimeTransport, pgliteTransport, publishInTransaction, transportFromEnv } from '../src/index.js'

const Item = z.object({ n: z.number() })

describe('pglite transport', () => {
  const cleanups: Array<() => Promise<unknown>> = []
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!()
  })

  it('keeps events in a data directory across a restart: a group resumes where it stopped', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tierbus-pglite-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const E = defineEvent(`${uniqueToken('pd')}.saved`, Item)

    const first = await pgliteTransport({ dataDir: dir, onError: () => {} })
    const bus1 = createBus({ transport: first, source: 'test' })
    const sub = await bus1.subscribe(E, () => {}, { group: 'archiver' })
    await sub.close()
    await bus1.publishBatch(E, [{ n: 1 }, { n: 2 }, { n: 3 }])
    await bus1.close()

    const second = await pgliteTransport({ dataDir: dir, onError: () => {} })
    const bus2 = createBus({ transport: second, source: 'test' })
    cleanups.push(() => bus2.close())
    const got: number[] = []
    await bus2.subscribe(E, (e) => void got.push(e.data.n), { group: 'archiver' })
    await eventually(() => got.length === 3, 'the 3 events stored before the restart')
    expect(got.sort()).toEqual([1, 2, 3])
  }, 60_000)

  it('publishes inside a PGlite transaction: committed events are delivered, rolled-back ones never exist', async () => {
    const db = await PGlite.create()
    cleanups.push(() => db.close())
    const transport = await pgliteTransport({ client: db, schema: 'app_events', onError: () => {} })
    cleanups.push(() => transport.close())
    const type = `${uniqueToken('ptx')}.x`
    const ev = (n: number): Envelope => ({
      specversion: '1.0',
      id: uniqueToken('e'),
      source: 'test',
      type,
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      data: { n },
    })
    const got: number[] = []
    const bus = createBus({ transport, source: 'test', closeTransport: false })
    cleanups.push(() => bus.close())
    await bus.subscribe(type, (e) => void got.push((e.data as { n: number }).n), { group: 'g' })

    await db.transaction(async (tx) => {
      await publishInTransaction(tx, [ev(1)], { schema: 'app_events' })
    })
    await db
      .transaction(async (tx) => {
        await publishInTransaction(tx, [ev(2)], { schema: 'app_events' })
        throw new Error('app failure after publishing')
      })
      .catch(() => {})
    await eventually(() => got.length >= 1, 'the committed event')
    await quietPeriod(300)
    expect(got).toEqual([1])
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM app_events.events`)
    expect(rows[0]!.n).toBe(1)
  })

  it('builds an in-memory transport from env when TIERBUS_PGLITE_DIR is unset', async () => {
    const t = (await transportFromEnv('pglite', { TIERBUS_DB_SCHEMA: 'envtest' })) as DbRealtimeTransport
    cleanups.push(() => t.close())
    expect(t.name).toBe('pglite')
    expect(t.schema).toBe('envtest')
  })
})
