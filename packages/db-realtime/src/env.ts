import { ConfigError, type Env, type Transport } from '@tierbus/core'
import { PgliteEnv, PostgresEnv, parse } from './env-schema.js'
import { pgliteTransport } from './pglite.js'
import { type PostgresTransportOptions, postgresTransport } from './postgres.js'
import { supabaseFromEnv } from './supabase-adapter.js'

/**
 * The `postgresTransport` options the env vars give: the (possibly pooled) URL, its direct connection for
 * LISTEN, the pooler mode and the common settings.
 */
export function postgresOptionsFromEnv(env: Env): PostgresTransportOptions {
  const v = parse(PostgresEnv, env, 'postgres')
  const url = v.TIERBUS_DATABASE_URL ?? v.DATABASE_URL
  if (!url) {
    throw new ConfigError(
      'TIERBUS_TRANSPORT=postgres: set DATABASE_URL (or TIERBUS_DATABASE_URL), e.g. postgres://postgres@127.0.0.1:5432/app',
    )
  }
  // A DIRECT_URL belongs to DATABASE_URL (Prisma's pair): when tierbus has its own URL, only its own direct URL counts.
  const direct = v.TIERBUS_DIRECT_URL ?? (v.TIERBUS_DATABASE_URL ? undefined : v.DIRECT_URL)
  return {
    url,
    schema: v.TIERBUS_DB_SCHEMA,
    ...(direct ? { directConnectionString: direct } : {}),
    ...(v.TIERBUS_DB_POOLER ? { pooler: v.TIERBUS_DB_POOLER } : {}),
    ...(v.TIERBUS_DB_POLL_MS ? { pollIntervalMs: v.TIERBUS_DB_POLL_MS } : {}),
  }
}

/**
 * Builds the db-realtime transport named by `kind` from env vars: `postgres` reads DATABASE_URL (or
 * TIERBUS_DATABASE_URL), its direct connection for LISTEN DIRECT_URL (or TIERBUS_DIRECT_URL; DIRECT_URL
 * only pairs with DATABASE_URL) and TIERBUS_DB_POOLER (`transaction` | `none`, detected from the URL when
 * unset), `pglite` TIERBUS_PGLITE_DIR (in-memory when unset), `supabase` SUPABASE_URL and
 * SUPABASE_SERVICE_ROLE_KEY; all read TIERBUS_DB_SCHEMA (default `tierbus`) and TIERBUS_DB_POLL_MS.
 */
export async function transportFromEnv(kind: string, env: Env): Promise<Transport> {
  switch (kind) {
    case 'postgres':
      return postgresTransport(postgresOptionsFromEnv(env))
    case 'pglite': {
      const v = parse(PgliteEnv, env, kind)
      return pgliteTransport({
        schema: v.TIERBUS_DB_SCHEMA,
        ...(v.TIERBUS_PGLITE_DIR ? { dataDir: v.TIERBUS_PGLITE_DIR } : {}),
        ...(v.TIERBUS_DB_POLL_MS ? { pollIntervalMs: v.TIERBUS_DB_POLL_MS } : {}),
      })
    }
    case 'supabase':
      return supabaseFromEnv(env)
    default:
      throw new ConfigError(
        `@tierbus/db-realtime provides postgres, pglite and supabase, not ${JSON.stringify(kind)}: install the package for that tier`,
      )
  }
}
