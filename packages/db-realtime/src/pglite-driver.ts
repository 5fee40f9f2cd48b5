import { ConfigError } from '@tierbus/core'
import { renameDeprecatedOptions } from '@tierbus/core/adapter'
import { dbError } from './db-errors.js'
import type { DbDriver } from './driver.js'
import { channelOf } from './schema-name.js'
import { type DbFunction, functionCallSql, insertEventSql, migratedVersionSql } from './statements.js'

/**
 * What tierbus uses of a PGlite database (a real `PGlite` fits): queries, LISTEN, and closing one it opened.
 * Declared here so the package's types never need `@electric-sql/pglite`'s.
 */
export interface PgliteLike {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: T[] }>
  listen(channel: string, callback: (payload: string) => void): Promise<() => Promise<void>>
  close(): Promise<void>
  readonly closed: boolean
}

/** Options of the PGlite (embedded Postgres) driver. */
export interface PgliteDriverOptions {
  /** An app-owned `PGlite` instance (not closed by tierbus). */
  client?: PgliteLike
  /** @deprecated Renamed `client` (the same name on every tier). */
  db?: PgliteLike
  /** Data directory for a persistent database; in-memory when unset (and no `client` given). */
  dataDir?: string
}

/** Opens (or wraps) a PGlite database. */
export async function openPglite(driverOptions: PgliteDriverOptions): Promise<{ db: PgliteLike; owned: boolean }> {
  const options = renameDeprecatedOptions(driverOptions, { db: 'client' }, 'pgliteTransport')
  if (options.client) return { db: options.client, owned: false }
  let mod: typeof import('@electric-sql/pglite')
  try {
    mod = await import('@electric-sql/pglite')
  } catch (err) {
    throw new ConfigError('the pglite driver needs @electric-sql/pglite: npm install @electric-sql/pglite', {
      cause: err,
    })
  }
  try {
    const db = options.dataDir ? await mod.PGlite.create(options.dataDir) : await mod.PGlite.create()
    return { db, owned: true }
  } catch (err) {
    throw new ConfigError(
      `could not open PGlite${options.dataDir ? ` at ${options.dataDir} (TIERBUS_PGLITE_DIR)` : ''}: ${(err as Error).message}`,
      { cause: err },
    )
  }
}

/** Builds the PGlite driver: in-process Postgres; NOTIFY from its own inserts arrives through `db.listen`. */
export function pgliteDriver(schema: string, db: PgliteLike, owned: boolean): DbDriver {
  const texts = new Map<DbFunction, string>()
  const textFor = (fn: DbFunction) => {
    let t = texts.get(fn)
    if (!t) {
      t = functionCallSql(schema, fn)
      texts.set(fn, t)
    }
    return t
  }
  const insertText = insertEventSql(schema)
  let closed = false
  return {
    kind: 'pglite',
    schema,
    async call(fn, args) {
      try {
        return (await db.query<Record<string, unknown>>(textFor(fn), args as unknown[])).rows
      } catch (err) {
        throw dbError(err, `pglite ${fn}`, schema)
      }
    },
    async insertEvent(row) {
      try {
        await db.query(insertText, row)
      } catch (err) {
        throw dbError(err, 'pglite publish', schema)
      }
    },
    async check() {
      try {
        await db.query(migratedVersionSql(schema))
      } catch (err) {
        throw dbError(err, 'pglite transport startup', schema)
      }
    },
    async listen(onHint) {
      const unlisten = await db.listen(channelOf(schema), (payload) => onHint(payload || '*'))
      return async () => {
        if (!db.closed) await unlisten()
      }
    },
    async close() {
      if (closed) return
      closed = true
      if (owned && !db.closed) await db.close()
    },
  }
}
