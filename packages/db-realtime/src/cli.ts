import { ConfigError, type Env } from '@tierbus/core'
import { migrate, migrationSql } from './migrations.js'
import { loadPg } from './pg-driver.js'
import { assertSchemaName } from './schema-name.js'

/** Usage of the db-realtime schema CLI. */
export const MIGRATE_CLI_USAGE = `usage: tierbus-db migrate [--schema <name>]   apply missing migrations to DATABASE_URL (or TIERBUS_DATABASE_URL)
       tierbus-db sql [--schema <name>]       print the migration SQL (e.g. for a Supabase migration file)
schema: --schema, else TIERBUS_DB_SCHEMA, else "tierbus"`

/**
 * The schema CLI: `migrate` applies missing migrations over pg, `sql` prints them. Returns the text to
 * print; throws a ConfigError with the usage on bad arguments. The tierbus CLI can call it as is.
 */
export async function runMigrateCli(argv: readonly string[], env: Env = process.env): Promise<string> {
  const [command, ...rest] = argv
  let schema = env.TIERBUS_DB_SCHEMA ?? 'tierbus'
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--schema' && rest[i + 1]) schema = rest[++i]!
    else throw new ConfigError(`unknown argument ${JSON.stringify(rest[i])}\n${MIGRATE_CLI_USAGE}`)
  }
  assertSchemaName(schema)
  if (command === 'sql') return migrationSql(schema)
  if (command !== 'migrate') throw new ConfigError(MIGRATE_CLI_USAGE)
  const url = env.TIERBUS_DATABASE_URL ?? env.DATABASE_URL
  if (!url) throw new ConfigError('tierbus-db migrate: set DATABASE_URL (or TIERBUS_DATABASE_URL), e.g. postgres://postgres@127.0.0.1:5432/app')
  const pg = await loadPg()
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const { applied } = await migrate(client, { schema })
    return applied.length ? `schema "${schema}": applied migrations ${applied.join(', ')}` : `schema "${schema}": up to date`
  } finally {
    await client.end()
  }
}
