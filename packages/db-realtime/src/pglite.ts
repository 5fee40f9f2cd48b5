import { migrate } from './migrations.js'
import { openPglite, type PgliteDriverOptions, pgliteDriver } from './pglite-driver.js'
import { assertSchemaName } from './schema-name.js'
import { DB_REALTIME_DEFAULTS, type DbRealtimeTransport, type DbTransportOptions, dbTransport } from './transport.js'

/**
 * Events one claim copies into a group's deliveries on PGlite (Postgres uses DB_REALTIME_DEFAULTS.scanLimit).
 * PGlite runs SQL on the app's thread: a smaller step keeps each claim short, so timers, heartbeats and
 * handlers get the thread back between steps instead of waiting out one long copy.
 */
export const PGLITE_SCAN_LIMIT = 250

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
  return dbTransport(driver, { scanLimit: PGLITE_SCAN_LIMIT, ...options, schema })
}
