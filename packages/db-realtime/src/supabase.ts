import { assertSchemaName } from './schema-name.js'
import { openSupabase, type SupabaseDriverOptions, supabaseDriver } from './supabase-driver.js'
import { DB_REALTIME_DEFAULTS, type DbRealtimeTransport, type DbTransportOptions, dbTransport } from './transport.js'

/** Options of `supabaseTransport` (`migrate` does not apply: apply `migrationSql(schema)` as a Supabase migration). */
export interface SupabaseTransportOptions extends Omit<DbTransportOptions, 'migrate'>, SupabaseDriverOptions {
  /** Check at startup that the schema's functions answer over RPC (default true). */
  check?: boolean
}

/**
 * The db-realtime transport on supabase-js: publishes and claims through PostgREST RPC calls of the
 * tierbus SQL functions, wakes on Realtime `postgres_changes`, and always polls as well (Realtime is best-effort).
 */
export async function supabaseTransport(options: SupabaseTransportOptions): Promise<DbRealtimeTransport> {
  const schema = options.schema ?? DB_REALTIME_DEFAULTS.schema
  assertSchemaName(schema)
  const driver = supabaseDriver(schema, await openSupabase(options))
  if (options.check ?? true) await driver.check()
  return dbTransport(driver, { ...options, schema })
}
