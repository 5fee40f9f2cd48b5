import type { TierAdapter } from '@tierbus/core'
import { transportFromEnv } from './env.js'
import { PgliteEnv, PostgresEnv } from './env-schema.js'
import { supabaseAdapter } from './supabase-adapter.js'

export { supabaseAdapter }

/** `TIERBUS_TRANSPORT=postgres` (DATABASE_URL): pass to `createBusFromEnv({ adapters })`. */
export const postgresAdapter: TierAdapter = Object.freeze<TierAdapter>({
  kind: 'postgres',
  install: '@tierbus/db-realtime pg',
  env: PostgresEnv,
  create: (env) => transportFromEnv('postgres', env),
})

/** `TIERBUS_TRANSPORT=pglite` (TIERBUS_PGLITE_DIR): embedded Postgres, no server. */
export const pgliteAdapter: TierAdapter = Object.freeze<TierAdapter>({
  kind: 'pglite',
  install: '@tierbus/db-realtime @electric-sql/pglite',
  env: PgliteEnv,
  create: (env) => transportFromEnv('pglite', env),
})

/** Every adapter of this package. */
export const tierbusAdapters: readonly TierAdapter[] = Object.freeze([postgresAdapter, pgliteAdapter, supabaseAdapter])
