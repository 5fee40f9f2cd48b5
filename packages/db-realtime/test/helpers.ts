import type { Envelope, Transport } from '@tierbus/core'
import { uniqueToken } from '@tierbus/core/testing'
import pg from 'pg'
import { type DbRealtimeTransport, type PostgresTransportOptions, postgresTransport } from '../src/index.js'

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
    // Dropped under a running subscription (some tests do that on purpose), the DROP can deadlock with a
    // claim; Postgres then aborts one of the two. When that is the DROP, run it again.
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
        return
      } catch (err) {
        if ((err as { code?: string }).code !== '40P01' || attempt === 5) throw err
      }
    }
  } finally {
    await client.end()
  }
}

/** A postgres transport on a fresh migrated schema that drops the schema when closed. */
export async function freshPostgresTransport(
  options: Partial<PostgresTransportOptions> = {},
): Promise<DbRealtimeTransport> {
  const schema = options.schema ?? freshSchema()
  const transport = await postgresTransport({ url: DATABASE_URL, poolSize: 4, onError: () => {}, ...options, schema })
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

/** Writes a JSON object straight into the events table, attribute by attribute, as a producer with table access could (no tierbus checks). */
export const INJECT_OBJECT_SQL = (schema: string) =>
  `INSERT INTO "${schema}".events (id, type, subject, source, time, data, extras)
   SELECT coalesce(j->>'id', $1), $2, j->>'subject', j->>'source', coalesce((j->>'time')::timestamptz, now()), j->'data',
          j - ARRAY['specversion', 'id', 'type', 'subject', 'source', 'time', 'datacontenttype', 'data']
   FROM (SELECT $3::jsonb AS j) AS raw`

/**
 * injectRaw for any db-realtime driver: a JSON object is written as a row with its attributes in their
 * columns (so a forged `replyto` lands in `extras`, where tierbus reads it back); anything else as a row
 * that is not a valid envelope (no source, the raw text as data).
 */
export async function injectRawRow(
  query: (sql: string, params: unknown[]) => Promise<unknown>,
  schema: string,
  type: string,
  raw: string,
): Promise<void> {
  let isObject = false
  try {
    const value: unknown = JSON.parse(raw)
    isObject = typeof value === 'object' && value !== null && !Array.isArray(value)
  } catch {
    // not JSON: stored as a raw row below
  }
  await query((isObject ? INJECT_OBJECT_SQL : INJECT_RAW_SQL)(schema), [uniqueToken('raw'), type, raw])
}

/** injectRaw for the conformance suite, on a pg pool. */
export async function injectRawPg(transport: Transport, type: string, raw: string): Promise<void> {
  const t = transport as DbRealtimeTransport
  const client = new pg.Client({ connectionString: DATABASE_URL })
  await client.connect()
  try {
    await injectRawRow((sql, params) => client.query(sql, params), t.schema, type, raw)
  } finally {
    await client.end()
  }
}

/** A minimal valid envelope of `type` carrying `{ n }`, for tests that publish through the SPI directly. */
export function envelope(type: string, n: number): Envelope {
  return {
    specversion: '1.0',
    id: uniqueToken('ev'),
    source: 'test',
    type,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data: { n },
  }
}
