import type { DbFunction, DbRow, EventRow } from './statements.js'

/**
 * What the transport needs from a database client. Small on purpose: every operation is one call of a
 * tierbus SQL function (a one-event publish may be a plain INSERT instead: `insertEvent`), plus an optional push channel. Drivers: pg (node-postgres), PGlite, Supabase.
 */
export interface DbDriver {
  /** Transport name reported to users and metrics: `postgres`, `pglite` or `supabase`. */
  readonly kind: 'postgres' | 'pglite' | 'supabase'
  /** The schema holding the tierbus tables and functions. */
  readonly schema: string
  /** Calls a tierbus SQL function with arguments in `DB_FUNCTIONS[fn].params` order. */
  call(fn: DbFunction, args: readonly unknown[]): Promise<DbRow[]>
  /**
   * Optional: stores one event with `insertEventSql` (a plain INSERT, the columns as parameters). The same rows
   * and trigger as `call('publish', ...)` for one envelope, and cheaper; a driver without it publishes through
   * `publish`.
   */
  insertEvent?(row: EventRow): Promise<void>
  /**
   * Starts the push channel (LISTEN/NOTIFY, Realtime). `onHint` receives a wake-up hint: space-separated
   * event types, or `*` meaning "anything may have changed" (after a reconnect). Resolves to a stop function.
   */
  listen(onHint: (hint: string) => void, onError: (err: unknown) => void): Promise<() => Promise<void>>
  /** Verifies the schema is migrated (at startup), throwing a TransportError that says what to do. */
  check(): Promise<void>
  /** Releases connections the driver opened (never a client the app passed in). */
  close(): Promise<void>
}
