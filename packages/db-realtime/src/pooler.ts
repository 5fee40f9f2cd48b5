import { ConfigError } from '@tierbus/core'

/**
 * How the pg driver's pool reaches Postgres. `transaction`: through a transaction-mode pooler (Supabase's
 * Supavisor on port 6543, PgBouncer `pool_mode = transaction`), where consecutive transactions of one client
 * may run on different server connections, so nothing may outlive a transaction: no named prepared statements,
 * no LISTEN. `none`: a direct connection (or a session-mode pooler), where both work.
 */
export type PoolerMode = (typeof POOLER_MODES)[number]

/** Values of `TIERBUS_DB_POOLER` and the `pooler` option. */
export const POOLER_MODES = Object.freeze(['transaction', 'none'] as const)

/** Supabase's pooler hosts (`aws-0-<region>.pooler.supabase.com`); port 6543 is its transaction mode. */
const SUPABASE_POOLER_HOST = /\.pooler\.supabase\.com$/i
const SUPABASE_TRANSACTION_PORT = '6543'

/** Where a pool connects: a connection string, or host and port (the fields of pg's `PoolConfig` we read). */
export interface PoolTarget {
  connectionString?: string | undefined
  host?: string | undefined
  port?: number | string | undefined
}

/**
 * The pooler mode of a pool: `explicit` when given, else `transaction` when the URL says so the way Prisma
 * does (`?pgbouncer=true`) or points at Supabase's transaction pooler (`*.pooler.supabase.com:6543`), else `none`.
 */
export function poolerModeOf(target: PoolTarget, explicit?: PoolerMode): PoolerMode {
  if (explicit !== undefined) {
    if (!(POOLER_MODES as readonly string[]).includes(explicit)) {
      throw new ConfigError(`pooler must be one of ${POOLER_MODES.join(', ')}, not ${JSON.stringify(explicit)}`)
    }
    return explicit
  }
  let host = target.host
  let port = target.port === undefined ? undefined : String(target.port)
  if (target.connectionString) {
    let url: URL
    try {
      url = new URL(target.connectionString)
    } catch {
      return 'none'
    }
    if (url.searchParams.get('pgbouncer') === 'true') return 'transaction'
    host = url.hostname
    port = url.port
  }
  return host !== undefined && SUPABASE_POOLER_HOST.test(host) && port === SUPABASE_TRANSACTION_PORT
    ? 'transaction'
    : 'none'
}
