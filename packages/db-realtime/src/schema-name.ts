import { ConfigError } from '@tierbus/core'

/** A schema name tierbus accepts: lowercase letter or `_` first, then lowercase letters, digits, `_`; at most 40 characters. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,39}$/

/**
 * Checks a schema name and returns it double-quoted for SQL. Schema names are the only identifiers
 * tierbus splices into SQL text (migrations, function calls); everything else travels as parameters.
 */
export function quoteSchema(schema: string): string {
  assertSchemaName(schema)
  return `"${schema}"`
}

/** Throws a ConfigError unless `schema` is a safe, unquoted-style Postgres identifier that is not reserved, nor `public`. */
export function assertSchemaName(schema: string): void {
  if (
    typeof schema !== 'string' ||
    !SCHEMA_NAME.test(schema) ||
    schema.startsWith('pg_') ||
    schema === 'information_schema'
  ) {
    throw new ConfigError(
      `invalid tierbus schema name ${JSON.stringify(schema)}: use 1-40 lowercase letters, digits or '_' starting with a letter or '_' (not pg_*), e.g. "tierbus" (env TIERBUS_DB_SCHEMA)`,
    )
  }
  if (schema === 'public') {
    throw new ConfigError(
      'tierbus schema "public" refused: it holds your app\'s tables, and tierbus\'s migrations and grants must not touch them; use a dedicated schema, e.g. "tierbus" (option schema / env TIERBUS_DB_SCHEMA)',
    )
  }
}

/** The LISTEN/NOTIFY channel a schema's events table notifies on (a plain identifier, so no quoting needed). */
export function channelOf(schema: string): string {
  assertSchemaName(schema)
  return `${schema}_events`
}
