import { ConfigError, type Env, type Transport } from '@tierbus/core'
import { parse, PgliteEnv, PostgresEnv } from './env-schema.js'
import { pgliteTransport } from './pglite.js'
import { postgresTransport } from './postgres.js'
import { supabaseFromEnv } from './supabase-adapter.js'

/**
 * Builds the db-realtime transport named by `kind` from env vars: `postgres` reads DATABASE_URL (or
 * TIERBUS_DATABASE_URL), `pglite` TIERBUS_PGLITE_DIR (in-memory when unset), `supabase` SUPABASE_URL and
 * SUPABASE_SERVICE_ROLE_KEY; all read TIERBUS_DB_SCHEMA (default `tierbus`) and TIERBUS_DB_POLL_MS.
 */
export async function transportFromEnv(kind: string, env: Env): Promise<Transport> {
  switch (kind) {
    case 'postgres': {
      const v = parse(PostgresEnv, env, kind)
      const url = v.TIERBUS_DATABASE_URL ?? v.DATABASE_URL
      if (!url) throw new ConfigError('TIERBUS_TRANSPORT=postgres: set DATABASE_URL (or TIERBUS_DATABASE_URL), e.g. postgres://postgres@127.0.0.1:5432/app')
      return postgresTransport({ connectionString: url, schema: v.TIERBUS_DB_SCHEMA, ...(v.TIERBUS_DB_POLL_MS ? { pollIntervalMs: v.TIERBUS_DB_POLL_MS } : {}) })
    }
    case 'pglite': {
      const v = parse(PgliteEnv, env, kind)
      return pgliteTransport({ schema: v.TIERBUS_DB_SCHEMA, ...(v.TIERBUS_PGLITE_DIR ? { dataDir: v.TIERBUS_PGLITE_DIR } : {}), ...(v.TIERBUS_DB_POLL_MS ? { pollIntervalMs: v.TIERBUS_DB_POLL_MS } : {}) })
    }
    case 'supabase':
      return supabaseFromEnv(env)
    default:
      throw new ConfigError(`@tierbus/db-realtime provides postgres, pglite and supabase, not ${JSON.stringify(kind)}: install the package for that tier`)
  }
}
