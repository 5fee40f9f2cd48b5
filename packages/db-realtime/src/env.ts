import { ConfigError, type Env, type Transport } from '@tierbus/core'
import { envVar, parseEnv } from '@tierbus/core/adapter'
import { z } from 'zod'
import { SCHEMA_NAME } from './schema-name.js'
import { pgliteTransport } from './pglite.js'
import { postgresTransport } from './postgres.js'
import { supabaseTransport } from './supabase.js'
import { DB_REALTIME_DEFAULTS } from './transport.js'

const Common = z.object({
  TIERBUS_DB_SCHEMA: z.string().regex(SCHEMA_NAME, 'use 1-40 lowercase letters, digits or _').default(DB_REALTIME_DEFAULTS.schema),
  TIERBUS_DB_POLL_MS: envVar.positiveInt().optional(),
})

const POSTGRES_URL = envVar.url(['postgres', 'postgresql'], 'postgres://user:pass@host:5432/db')
export const PostgresEnv = Common.extend({
  DATABASE_URL: POSTGRES_URL.optional(),
  TIERBUS_DATABASE_URL: POSTGRES_URL.optional(),
})
export const PgliteEnv = Common.extend({ TIERBUS_PGLITE_DIR: z.string().min(1).optional() })
export const SupabaseEnv = Common.extend({
  SUPABASE_URL: z.string().url('expected https://<project>.supabase.co'),
  SUPABASE_SERVICE_ROLE_KEY: z.string().min(20, 'expected the service-role key (Project settings > API)'),
})

function parse<T extends z.ZodType>(schema: T, env: Env, kind: string): z.infer<T> {
  return parseEnv(schema, env, `TIERBUS_TRANSPORT=${kind}`)
}

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
      return postgresTransport({ url: url, schema: v.TIERBUS_DB_SCHEMA, ...(v.TIERBUS_DB_POLL_MS ? { pollIntervalMs: v.TIERBUS_DB_POLL_MS } : {}) })
    }
    case 'pglite': {
      const v = parse(PgliteEnv, env, kind)
      return pgliteTransport({ schema: v.TIERBUS_DB_SCHEMA, ...(v.TIERBUS_PGLITE_DIR ? { dataDir: v.TIERBUS_PGLITE_DIR } : {}), ...(v.TIERBUS_DB_POLL_MS ? { pollIntervalMs: v.TIERBUS_DB_POLL_MS } : {}) })
    }
    case 'supabase': {
      const v = parse(SupabaseEnv, env, kind)
      return supabaseTransport({ url: v.SUPABASE_URL, serviceRoleKey: v.SUPABASE_SERVICE_ROLE_KEY, schema: v.TIERBUS_DB_SCHEMA, ...(v.TIERBUS_DB_POLL_MS ? { pollIntervalMs: v.TIERBUS_DB_POLL_MS } : {}) })
    }
    default:
      throw new ConfigError(`@tierbus/db-realtime provides postgres, pglite and supabase, not ${JSON.stringify(kind)}: install the package for that tier`)
  }
}
