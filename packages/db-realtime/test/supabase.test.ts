import { TransportError } from '@tierbus/core'
import { runTransportConformance } from '@tierbus/core/testing'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  DB_FUNCTIONS,
  DB_REALTIME_CAPABILITIES,
  type DbRealtimeTransport,
  migrate,
  postgresTransport,
  supabaseTransport,
} from '../src/index.js'
import { DATABASE_URL, dropSchema, freshSchema, injectRawPg } from './helpers.js'

// No PostgREST or Realtime server can run here (Debian has no postgrest package), so the supabase-js
// HTTP layer is not exercised against a server. What Supabase runs beneath it is tested for real:
// the same SQL functions, called with the same named parameters, as the service_role role.

async function ensureServiceRole(): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL })
  await client.connect()
  try {
    for (const role of ['anon', 'authenticated', 'service_role']) {
      await client
        .query(
          `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN CREATE ROLE ${role} NOLOGIN; END IF; END $$`,
        )
        .catch((err: { code?: string }) => {
          if (err.code !== '23505' && err.code !== '42710') throw err
        })
    }
    await client.query('ALTER ROLE service_role BYPASSRLS')
  } finally {
    await client.end()
  }
}

describe('supabase SQL surface', () => {
  beforeAll(ensureServiceRole)
  const schema = freshSchema()
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 })
  afterAll(async () => {
    await dropSchema(schema)
    await pool.end()
  })

  it('declares RPC parameter names exactly as the SQL functions name them (PostgREST calls by name)', async () => {
    await migrate(pool, { schema })
    for (const [fn, { params }] of Object.entries(DB_FUNCTIONS)) {
      const { rows } = await pool.query(
        `SELECT p.proargnames, p.proargmodes::text[] AS proargmodes FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND p.proname = $2`,
        [schema, fn],
      )
      expect(rows, fn).toHaveLength(1)
      const names: string[] = rows[0].proargnames ?? []
      const modes: string[] | null = rows[0].proargmodes
      const inputs = names.filter((_, i) => !modes || modes[i] === 'i')
      expect(inputs, fn).toEqual([...params])
    }
  })

  it('lets only service_role execute the RPC functions', async () => {
    await migrate(pool, { schema })
    for (const fn of Object.keys(DB_FUNCTIONS)) {
      const { rows } = await pool.query(
        `SELECT has_function_privilege('service_role', p.oid, 'EXECUTE') AS service, has_function_privilege('anon', p.oid, 'EXECUTE') AS anon,
                has_function_privilege('authenticated', p.oid, 'EXECUTE') AS authenticated
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND p.proname = $2`,
        [schema, fn],
      )
      expect(rows[0], fn).toEqual({ service: true, anon: false, authenticated: false })
    }
  })

  it('fails at startup with a TransportError when the Supabase API cannot be reached', async () => {
    const err = await supabaseTransport({
      url: 'http://127.0.0.1:1',
      serviceRoleKey: 'x'.repeat(40),
      schema: 'tierbus',
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TransportError)
    expect((err as Error).message).toMatch(/supabase transport startup/)
  })
})

// The whole conformance suite, every call made by the service_role role (as PostgREST would run them).
beforeAll(ensureServiceRole)
runTransportConformance(
  'postgres as service_role (the SQL the supabase driver calls)',
  async () => {
    const schema = freshSchema()
    const owner = new pg.Pool({ connectionString: DATABASE_URL, max: 1 })
    try {
      await migrate(owner, { schema })
    } finally {
      await owner.end()
    }
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4, options: '-c role=service_role' })
    pool.on('error', () => {})
    const transport = await postgresTransport({ client: pool, schema, migrate: false, onError: () => {} })
    const whoami = await pool.query('SELECT current_user AS u')
    if (whoami.rows[0].u !== 'service_role') throw new Error(`expected to run as service_role, got ${whoami.rows[0].u}`)
    const close = transport.close.bind(transport)
    return Object.assign(transport, {
      close: async () => {
        await close()
        await pool.end()
        await dropSchema(schema)
      },
    }) as DbRealtimeTransport
  },
  { capabilities: DB_REALTIME_CAPABILITIES, injectRaw: injectRawPg },
)
