import type { TierAdapter } from '@tierbus/core'
import { PgliteEnv, PostgresEnv, SupabaseEnv, transportFromEnv } from './env.js'

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

/** `TIERBUS_TRANSPORT=supabase` (SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY). */
export const supabaseAdapter: TierAdapter = Object.freeze<TierAdapter>({
  kind: 'supabase',
  install: '@tierbus/db-realtime @supabase/supabase-js',
  env: SupabaseEnv,
  create: (env) => transportFromEnv('supabase', env),
})

/** Every adapter of this package. */
export const tierbusAdapters: readonly TierAdapter[] = Object.freeze([postgresAdapter, pgliteAdapter, supabaseAdapter])
