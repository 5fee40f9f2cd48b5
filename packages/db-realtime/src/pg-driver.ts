import { ConfigError, TransportError } from '@tierbus/core'
import { reconnectWithBackoff, renameDeprecatedOptions } from '@tierbus/core/adapter'
import type { Client, Pool, PoolConfig } from 'pg'
import { dbError } from './db-errors.js'
import type { DbDriver } from './driver.js'
import { channelOf } from './schema-name.js'
import { DB_FUNCTIONS, functionCallSql, migratedVersionSql, type DbFunction, type DbRow } from './statements.js'

/** Options of the node-postgres driver. */
export interface PgDriverOptions {
  /** An app-owned pool to use (not closed by tierbus); otherwise one is created from `url`. */
  client?: Pool
  /** `postgres://user:pass@host:5432/db`, used when no `client` is given. */
  url?: string
  /** @deprecated Renamed `client` (the same name on every tier). */
  pool?: Pool
  /** @deprecated Renamed `url` (the same name on every tier). */
  connectionString?: string
  /** Size of the pool tierbus creates. */
  poolSize?: number
  /** Base delay between LISTEN reconnect attempts; doubles (with jitter) up to 5 s. The first attempt is at once. */
  reconnectDelayMs?: number
}

/** Old option names still accepted, and their current names. */
const PG_DEPRECATED_NAMES = { pool: 'client', connectionString: 'url' } as const

/** Defaults of `PgDriverOptions`. */
export const PG_DRIVER_DEFAULTS = Object.freeze({ poolSize: 10, reconnectDelayMs: 250 })

type PgModule = typeof import('pg')

async function loadPg(): Promise<PgModule> {
  try {
    const mod = (await import('pg')) as PgModule & { default?: PgModule }
    return mod.default ?? mod
  } catch (err) {
    throw new ConfigError('the postgres driver needs the pg package: npm install pg', { cause: err })
  }
}

/** The pg driver, exposing its pool (for migrations and transactional publish). */
export interface PgDbDriver extends DbDriver {
  readonly pool: Pool
}

/** Builds the pg driver: a Pool for calls and one dedicated LISTEN connection that reconnects by itself. */
export async function pgDriver(schema: string, driverOptions: PgDriverOptions): Promise<PgDbDriver> {
  const options = renameDeprecatedOptions(driverOptions, PG_DEPRECATED_NAMES, 'postgresTransport')
  const pg = await loadPg()
  if (!options.client && !options.url) {
    throw new ConfigError(
      'postgresTransport needs { url } (env DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/app) ' +
        'or { client } (a pg Pool)',
    )
  }
  const ownsPool = !options.client
  const pool: Pool =
    options.client ??
    new pg.Pool({ connectionString: options.url, max: options.poolSize ?? PG_DRIVER_DEFAULTS.poolSize })
  // An idle pooled client that loses its connection emits 'error' on the pool; without a listener that would crash the app.
  if (ownsPool) pool.on('error', () => {})
  const listenConfig: PoolConfig = { ...(pool as unknown as { options: PoolConfig }).options }
  const statements = new Map<DbFunction, { name: string; text: string }>()
  const statementFor = (fn: DbFunction) => {
    let s = statements.get(fn)
    if (!s) {
      // Named statements are parsed and planned once per connection.
      s = { name: `tierbus_${schema}_${fn}`, text: functionCallSql(schema, fn) }
      statements.set(fn, s)
    }
    return s
  }
  let closed = false

  return {
    kind: 'postgres',
    schema,
    pool,
    async call(fn, args) {
      const { name, text } = statementFor(fn)
      if (args.length !== DB_FUNCTIONS[fn].params.length) throw new TransportError(`internal: ${fn} takes ${DB_FUNCTIONS[fn].params.length} arguments`, { retryable: false })
      try {
        const result = await pool.query<DbRow>({ name, text, values: args as unknown[] })
        return result.rows
      } catch (err) {
        throw dbError(err, `postgres ${fn}`, schema)
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
      const channel = channelOf(schema)
      const stopping = new AbortController()
      const backoff = { initialDelayMs: options.reconnectDelayMs ?? PG_DRIVER_DEFAULTS.reconnectDelayMs, maxDelayMs: 5_000 }
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
        // The pool works but LISTEN failed (e.g. a transaction-mode pooler): polling still delivers.
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
      if (ownsPool) await pool.end()
    },
  }
}
