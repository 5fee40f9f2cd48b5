// The option names of the naming guide (docs/adapters.md): url and client, with the old names kept as deprecated aliases.
import { PGlite } from '@electric-sql/pglite'
import { ConfigError, createBus, defineEvent, type TransportErrorContext } from '@tierbus/core'
import { eventually } from '@tierbus/core/testing'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { pgliteTransport, postgresTransport } from '../src/index.js'
import { DATABASE_URL, dropSchema, freshSchema } from './helpers.js'

const Ping = defineEvent('naming.ping', z.object({}))
const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.()
})

function schemaToDrop(): string {
  const schema = freshSchema()
  cleanups.push(() => dropSchema(schema))
  return schema
}

describe('postgresTransport option names', () => {
  it('connects with url, and with the deprecated connectionString', async () => {
    for (const options of [{ url: DATABASE_URL }, { connectionString: DATABASE_URL }]) {
      const transport = await postgresTransport({ ...options, schema: schemaToDrop(), poolSize: 1 })
      expect(transport.name).toBe('postgres')
      await transport.close()
    }
  })

  it('uses an app pool passed as client, or as the deprecated pool, and leaves it open on close', async () => {
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 })
    cleanups.push(() => pool.end())
    for (const options of [{ client: pool }, { pool }]) {
      const transport = await postgresTransport({ ...options, schema: schemaToDrop() })
      await transport.close()
      expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1)
    }
  })

  it('rejects an old and a new name that disagree, naming the one to keep', async () => {
    const err = await postgresTransport({ url: DATABASE_URL, connectionString: 'postgres://elsewhere/db' }).catch(
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toMatch(/pass only url/)
  })

  it('reports a failed claim to onError with its operation and group (the shared TransportErrorListener)', async () => {
    const schema = freshSchema()
    const seen: TransportErrorContext[] = []
    const transport = await postgresTransport({
      url: DATABASE_URL,
      schema,
      pollIntervalMs: 50,
      onError: (_err, context) => void seen.push(context),
    })
    cleanups.push(() => transport.close())
    const bus = createBus({ transport, source: 'naming-test', onError: () => {} })
    await bus.subscribe(Ping, async () => {}, { group: 'naming-group' })
    // The claim function disappears under the running subscription: its next claim fails in the background.
    await dropSchema(schema)
    await eventually(
      () => seen.some((c) => c.operation === 'claim' && c.group === 'naming-group'),
      () => `an onError call for the claim of naming-group, got ${JSON.stringify(seen)}`,
    )
  })
})

describe('pgliteTransport option names', () => {
  it('uses an app PGlite passed as client, or as the deprecated db, and leaves it open on close', async () => {
    const db = await PGlite.create()
    cleanups.push(() => db.close())
    for (const [i, options] of [{ client: db }, { db }].entries()) {
      const transport = await pgliteTransport({ ...options, schema: `naming_${i}` })
      await transport.close()
      expect((await db.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1)
    }
  })
})
