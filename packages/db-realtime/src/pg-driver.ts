import { ConfigError, TransportError } from '@tierbus/core'
import { reconnectWithBackoff, renameDeprecatedOptions } from '@tierbus/core/adapter'
import type { Client, PoolConfig } from 'pg'
import { dbError } from './db-errors.js'
import type { DbDriver } from './driver.js'
import { type PoolerMode, poolerModeOf } from './pooler.js'
import { channelOf } from './schema-name.js'
import { DB_FUNCTIONS, type DbFunction, functionCallSql, insertEventSql, migratedVersionSql } from './statements.js'

/** One statement as the pg driver sends it: unnamed unless `name` is given. */
export interface PgQueryConfig {
  text: string
  name?: string
  values?: unknown[]
}

/**
 * What tierbus uses of a node-postgres `Pool` (a real `pg.Pool` fits): queries, and `connect()` for the
 * migrations' transaction. Declared here so the package's types never need `pg`'s.
 */
export interface PgPoolLike {
  query(config: PgQueryConfig): Promise<{ rows: Array<Record<string, unknown>> }>
  query(text: string, params?: unknown[]): Promise<unknown>
  connect(): Promise<{ query(text: string, params?: unknown[]): Promise<unknown>; release(err?: boolean): void }>
}

/** Options of the node-postgres driver. */
export interface PgDriverOptions {
  /** An app-owned `pg.Pool` to use (not closed by tierbus); otherwise one is created from `url`. */
  client?: PgPoolLike
  /** `postgres://user:pass@host:5432/db`, used when no `client` is given. */
  url?: string
  /** @deprecated Renamed `client` (the same name on every tier). */
  pool?: PgPoolLike
  /** @deprecated Renamed `url` (the same name on every tier). */
  connectionString?: string
  /** Size of the pool tierbus creates. */
  poolSize?: number
  /** Base delay between LISTEN reconnect attempts; doubles (with jitter) up to 5 s. The first attempt is at once. */
  reconnectDelayMs?: number
  /**
   * `transaction` when the pool goes through a transaction-mode pooler (Supabase port 6543, PgBouncer
   * `pool_mode = transaction`): statements are sent unnamed and LISTEN runs only on `directConnectionString`
   * (without one, consumers poll). Default: `transaction` when the URL has `?pgbouncer=true` or is Supabase's
   * pooler on port 6543, else `none`.
   */
  pooler?: PoolerMode
  /** A direct connection (no transaction pooler) for LISTEN, e.g. Supabase's `DIRECT_URL`; default: the pool's. */
  directConnectionString?: string
}

/** Old option names still accepted, and their current names. */
const PG_DEPRECATED_NAMES = { pool: 'client', connectionString: 'url' } as const

/** Defaults of `PgDriverOptions`. */
export const PG_DRIVER_DEFAULTS = Object.freeze({ poolSize: 10, reconnectDelayMs: 250 })

type PgModule = typeof import('pg')

/** Loads node-postgres, or fails with a ConfigError saying to install it. */
export async function loadPg(): Promise<PgModule> {
  try {
    const mod = (await import('pg')) as PgModule & { default?: PgModule }
    return mod.default ?? mod
  } catch (err) {
    throw new ConfigError('the postgres driver needs the pg package: npm install pg', { cause: err })
  }
}

/** The pg driver, exposing its pool (for migrations and transactional publish). */
export interface PgDbDriver extends DbDriver {
  readonly pool: PgPoolLike
  /** How the pool reaches Postgres (given or detected); `transaction` means unnamed statements only. */
  readonly pooler: PoolerMode
}

/**
 * Builds the pg driver: a Pool for calls and one dedicated LISTEN connection that reconnects by itself.
 * Every call is one statement in its own transaction, so the driver works through a transaction pooler;
 * there it sends statements unnamed and listens only on the direct connection, if one is given.
 */
export async function pgDriver(schema: string, driverOptions: PgDriverOptions): Promise<PgDbDriver> {
  const options = renameDeprecatedOptions(driverOptions, PG_DEPRECATED_NAMES, 'postgresTransport')
  const pg = await loadPg()
  if (!options.client && !options.url) {
    throw new ConfigError(
      'postgresTransport needs { url } (env DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/app) ' +
        'or { client } (a pg Pool)',
    )
  }
  let pool: PgPoolLike
  let endPool: (() => Promise<void>) | undefined
  if (options.client) pool = options.client
  else {
    const max = options.poolSize ?? PG_DRIVER_DEFAULTS.poolSize
    const own = new pg.Pool({ connectionString: options.url, max })
    // An idle pooled client that loses its connection emits 'error' on the pool; unheard, it would crash the app.
    own.on('error', () => {})
    pool = own
    endPool = () => own.end()
  }
  const poolConfig: PoolConfig = { ...(pool as unknown as { options: PoolConfig }).options }
  const pooler = poolerModeOf(poolConfig, options.pooler)
  const listenConfig = listenConfigOf(poolConfig, pooler, options.directConnectionString)
  const statements = new Map<DbFunction, PgQueryConfig>()
  const statementFor = (fn: DbFunction) => {
    let s = statements.get(fn)
    if (!s) {
      const text = functionCallSql(schema, fn)
      // Named statements are parsed and planned once per connection; a transaction pooler cannot keep them.
      s = pooler === 'transaction' ? { text } : { name: `tierbus_${schema}_${fn}`, text }
      statements.set(fn, s)
    }
    return s
  }
  const insertText = insertEventSql(schema)
  const insert: PgQueryConfig =
    pooler === 'transaction' ? { text: insertText } : { name: `tierbus_${schema}_insert_event`, text: insertText }
  let closed = false

  return {
    kind: 'postgres',
    schema,
    pool,
    pooler,
    async call(fn, args) {
      const statement = statementFor(fn)
      if (args.length !== DB_FUNCTIONS[fn].params.length)
        throw new TransportError(`internal: ${fn} takes ${DB_FUNCTIONS[fn].params.length} arguments`, {
          retryable: false,
        })
      try {
        const result = await pool.query({ ...statement, values: args as unknown[] })
        return result.rows
      } catch (err) {
        throw dbError(err, `postgres ${fn}`, schema)
      }
    },
    async insertEvent(row) {
      try {
        await pool.query({ ...insert, values: row })
      } catch (err) {
        throw dbError(err, 'postgres publish', schema)
      }
    },
    async check() {
      try {
        await pool.query(migratedVersionSql(schema))
      } catch (err) {
        throw dbError(err, 'postgres transport startup', schema)
      }
    },
    async listen(onHint, onError) {
      // Through a transaction pooler with no direct connection: no push channel, the poll interval delivers.
      if (!listenConfig) return async () => {}
      const channel = channelOf(schema)
      const stopping = new AbortController()
      const backoff = {
        initialDelayMs: options.reconnectDelayMs ?? PG_DRIVER_DEFAULTS.reconnectDelayMs,
        maxDelayMs: 5_000,
      }
      let client: Client | undefined
      let reconnecting = false
      const drop = (c: Client) => {
        if (client !== c) return false
        client = undefined
        c.removeAllListeners('notification')
        c.end().catch(() => {})
        return true
      }
      const reconnect = async () => {
        if (reconnecting || stopping.signal.aborted) return
        reconnecting = true
        await reconnectWithBackoff(connect, { backoff, signal: stopping.signal })
        reconnecting = false
      }
      /** Opens one LISTEN connection; when it drops later, reconnects with backoff, for as long as it takes. */
      const connect = async (): Promise<void> => {
        const c = new pg.Client(listenConfig)
        c.on('notification', (msg) => {
          if (msg.channel === channel) onHint(msg.payload ?? '*')
        })
        const lost = (err?: unknown) => {
          if (!drop(c) || stopping.signal.aborted) return
          if (err) onError(dbError(err, 'postgres LISTEN connection lost, reconnecting', schema))
          void reconnect()
        }
        c.on('error', lost)
        c.on('end', () => lost())
        client = c
        try {
          await c.connect()
          await c.query(`LISTEN ${channel}`)
        } catch (err) {
          drop(c)
          throw err
        }
        if (stopping.signal.aborted) {
          drop(c)
          return
        }
        // Notifications sent while we were away are gone: tell every subscription to look.
        onHint('*')
      }
      try {
        await connect()
      } catch (err) {
        // The pool works but LISTEN failed (e.g. the direct connection is unreachable): polling still delivers.
        onError(dbError(err, 'postgres LISTEN failed; polling only until it reconnects', schema))
        void reconnect()
      }
      return async () => {
        stopping.abort()
        const c = client
        client = undefined
        await c?.end().catch(() => {})
      }
    },
    async close() {
      if (closed) return
      closed = true
      await endPool?.()
    },
  }
}

/**
 * Where the LISTEN connection goes: the direct connection when one is given, else the pool's own server,
 * except through a transaction pooler (a LISTEN there lands on a server connection other clients share and
 * its notifications never reach us): then none.
 */
function listenConfigOf(
  poolConfig: PoolConfig,
  pooler: PoolerMode,
  direct: string | undefined,
): PoolConfig | undefined {
  if (direct) return { ...poolConfig, connectionString: direct }
  return pooler === 'transaction' ? undefined : poolConfig
}
