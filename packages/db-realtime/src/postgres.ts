import { migrate } from './migrations.js'
import { type PgDriverOptions, pgDriver } from './pg-driver.js'
import { assertSchemaName } from './schema-name.js'
import { DB_REALTIME_DEFAULTS, type DbRealtimeTransport, type DbTransportOptions, dbTransport } from './transport.js'

/** Options of `postgresTransport`. */
export interface PostgresTransportOptions extends DbTransportOptions, PgDriverOptions {}

/**
 * The db-realtime transport on node-postgres: migrates the schema (unless `migrate: false`), then
 * checks it, so a wrong URL or a missing schema fails here, at startup.
 */
export async function postgresTransport(options: PostgresTransportOptions): Promise<DbRealtimeTransport> {
  const schema = options.schema ?? DB_REALTIME_DEFAULTS.schema
  assertSchemaName(schema)
  const driver = await pgDriver(schema, options)
  try {
    if (options.migrate ?? DB_REALTIME_DEFAULTS.migrate) await migrate(driver.pool, { schema })
    await driver.check()
  } catch (err) {
    await driver.close().catch(() => {})
    throw err
  }
  return dbTransport(driver, { ...options, schema })
}
