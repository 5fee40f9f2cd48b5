import { TierbusError, TransportError } from '@tierbus/core'
import { isNetworkError } from '@tierbus/core/adapter'

/** Postgres error codes meaning "the tierbus schema or its functions are not there". */
const MISSING_SCHEMA_CODES = new Set(['3F000', '42P01', '42883', 'PGRST202', 'PGRST106'])

/** Postgres error codes of a server that is shutting down, crashed, or still starting up (class 57P). */
const SERVER_UNAVAILABLE_CODES = new Set(['57P01', '57P02', '57P03'])

/** True when a driver error means the database cannot be reached (network, shutdown, still starting up). */
export function isDatabaseUnreachable(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && SERVER_UNAVAILABLE_CODES.has(code)) return true
  }
  return isNetworkError(err)
}

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
  if (
    e?.code === 'ECONNREFUSED' ||
    e?.code === 'ENOTFOUND' ||
    e?.code === 'ETIMEDOUT' ||
    /ECONNREFUSED|connect|terminat/i.test(message)
  ) {
    return new TransportError(
      `${what}: cannot reach the database (${message}). Check DATABASE_URL / the server, it will be retried`,
      { cause: err, retryable: true },
    )
  }
  return new TransportError(`${what} failed: ${message}`, { cause: err })
}
