import pg from 'pg'
import { uniqueToken } from '@tierbus/core/testing'
import type { Transport } from '@tierbus/core'
import { postgresTransport, type DbRealtimeTransport, type PostgresTransportOptions } from '../src/index.js'

/** The test database (real Postgres, trust auth). */
export const DATABASE_URL = process.env.TIERBUS_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** A fresh random schema name, so tests never see each other's rows. */
export function freshSchema(): string {
  return uniqueToken('tb_').toLowerCase()
}

/** Drops a test schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  } finally {
    await client.end()
  }
}

/** A postgres transport on a fresh migrated schema that drops the schema when closed. */
export async function freshPostgresTransport(options: Partial<PostgresTransportOptions> = {}): Promise<DbRealtimeTransport> {
  const schema = options.schema ?? freshSchema()
  const transport = await postgresTransport({ connectionString: DATABASE_URL, poolSize: 4, onError: () => {}, ...options, schema })
  const close = transport.close.bind(transport)
  let dropped = false
  return Object.assign(transport, {
    close: async () => {
      await close()
      if (!dropped) {
        dropped = true
        await dropSchema(schema)
      }
    },
  })
}

/** Writes a row that is not a valid envelope (no source, data is the raw text) straight into the events table. */
export const INJECT_RAW_SQL = (schema: string) =>
  `INSERT INTO "${schema}".events (id, type, source, data) VALUES ($1, $2, NULL, to_jsonb($3::text))`

/** injectRaw for the conformance suite, on a pg pool. */
export async function injectRawPg(transport: Transport, type: string, raw: string): Promise<void> {
  const t = transport as DbRealtimeTransport
  const client = new pg.Client({ connectionString: DATABASE_URL })
  await client.connect()
  try {
    await client.query(INJECT_RAW_SQL(t.schema), [uniqueToken('raw'), type, raw])
  } finally {
    await client.end()
  }
}
