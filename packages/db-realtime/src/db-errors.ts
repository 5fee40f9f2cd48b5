import { TierbusError, TransportError } from '@tierbus/core'

/** Postgres error codes meaning "the tierbus schema or its functions are not there". */
const MISSING_SCHEMA_CODES = new Set(['3F000', '42P01', '42883', 'PGRST202', 'PGRST106'])

/** Wraps a driver error in a TransportError whose message says what to do. */
export function dbError(err: unknown, what: string, schema: string): TierbusError {
  if (err instanceof TierbusError) return err
  const e = err as { code?: string; message?: string }
  const message = e?.message ?? String(err)
  if (e?.code && MISSING_SCHEMA_CODES.has(e.code)) {
    return new TransportError(
      `${what}: tierbus schema "${schema}" is missing or not migrated (${message}). Run migrate(db, { schema: '${schema}' }), or create the transport with migrate: true`,
      { cause: err, retryable: false },
    )
  }
  if (e?.code === 'ECONNREFUSED' || e?.code === 'ENOTFOUND' || e?.code === 'ETIMEDOUT' || /ECONNREFUSED|connect|terminat/i.test(message)) {
    return new TransportError(`${what}: cannot reach the database (${message}). Check DATABASE_URL / the server, it will be retried`, { cause: err, retryable: true })
  }
  return new TransportError(`${what} failed: ${message}`, { cause: err })
}
