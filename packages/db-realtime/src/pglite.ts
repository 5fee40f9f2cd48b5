import { migrate } from './migrations.js'
import { openPglite, pgliteDriver, type PgliteDriverOptions } from './pglite-driver.js'
import { assertSchemaName } from './schema-name.js'
import { DB_REALTIME_DEFAULTS, dbTransport, type DbRealtimeTransport, type DbTransportOptions } from './transport.js'

/** Options of `pgliteTransport`. */
export interface PgliteTransportOptions extends DbTransportOptions, PgliteDriverOptions {}

/**
 * The db-realtime transport on PGlite, Postgres embedded in this process: persistent with a
 * `dataDir`, in-memory without. Migrates at startup (unless `migrate: false`).
 */
export async function pgliteTransport(options: PgliteTransportOptions = {}): Promise<DbRealtimeTransport> {
  const schema = options.schema ?? DB_REALTIME_DEFAULTS.schema
  assertSchemaName(schema)
  const { db, owned } = await openPglite(options)
  const driver = pgliteDriver(schema, db, owned)
  try {
    if (options.migrate ?? DB_REALTIME_DEFAULTS.migrate) await migrate(db, { schema })
    await driver.check()
  } catch (err) {
    await driver.close().catch(() => {})
    throw err
  }
  return dbTransport(driver, { ...options, schema })
}
