import { ConfigError, type Env } from '@tierbus/core'
import { migrate, migrationSql } from './migrations.js'
import { loadPg, pgDriver } from './pg-driver.js'
import { pruneEvents, type RetentionPolicy } from './retention.js'
import { assertSchemaName } from './schema-name.js'

/** Usage of the db-realtime schema CLI. */
export const MIGRATE_CLI_USAGE = `usage: tierbus-db migrate [--schema <name>]   apply missing migrations to DATABASE_URL (or TIERBUS_DATABASE_URL)
       tierbus-db sql [--schema <name>]       print the migration SQL (e.g. for a Supabase migration file)
       tierbus-db prune [--schema <name>] [--max-age <n>ms|s|m|h|d] [--max-events <n>]
                                              delete old events no group still needs (at least one limit)
schema: --schema, else TIERBUS_DB_SCHEMA, else "tierbus"`

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `90d`, `12h`, `30m`, `45s`, `500ms` → milliseconds. */
function durationMs(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text)
  if (!m)
    throw new ConfigError(
      `--max-age: expected a duration like 90d, 12h, 30m, 45s or 500ms, got ${JSON.stringify(text)}`,
    )
  return Number(m[1]) * (UNITS[m[2] ?? 'ms'] ?? 1)
}

function count(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) <= 0)
    throw new ConfigError(`--max-events: expected a positive integer, got ${JSON.stringify(text)}`)
  return Number(text)
}

/**
 * The schema CLI: `migrate` applies missing migrations over pg, `sql` prints them, `prune` applies a
 * retention policy once. Returns the text to print; throws a ConfigError with the usage on bad
 * arguments. The tierbus CLI can call it as is.
 */
export async function runMigrateCli(argv: readonly string[], env: Env = process.env): Promise<string> {
  const [command, ...rest] = argv
  let schema = env.TIERBUS_DB_SCHEMA ?? 'tierbus'
  const policy: { maxAgeMs?: number; maxEvents?: number } = {}
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i]
    const value = rest[i + 1]
    if (value === undefined) throw new ConfigError(`missing value after ${JSON.stringify(flag)}\n${MIGRATE_CLI_USAGE}`)
    if (flag === '--schema') schema = value
    else if (flag === '--max-age' && command === 'prune') policy.maxAgeMs = durationMs(value)
    else if (flag === '--max-events' && command === 'prune') policy.maxEvents = count(value)
    else throw new ConfigError(`unknown argument ${JSON.stringify(flag)}\n${MIGRATE_CLI_USAGE}`)
    i++
  }
  assertSchemaName(schema)
  if (command === 'sql') return migrationSql(schema)
  if (command !== 'migrate' && command !== 'prune') throw new ConfigError(MIGRATE_CLI_USAGE)
  const url = env.TIERBUS_DATABASE_URL ?? env.DATABASE_URL
  if (!url)
    throw new ConfigError(
      `tierbus-db ${command}: set DATABASE_URL (or TIERBUS_DATABASE_URL), e.g. postgres://postgres@127.0.0.1:5432/app`,
    )
  return command === 'migrate' ? migrateOnce(url, schema) : pruneOnce(url, schema, policy)
}

async function migrateOnce(url: string, schema: string): Promise<string> {
  const pg = await loadPg()
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const { applied } = await migrate(client, { schema })
    return applied.length
      ? `schema "${schema}": applied migrations ${applied.join(', ')}`
      : `schema "${schema}": up to date`
  } finally {
    await client.end()
  }
}

async function pruneOnce(url: string, schema: string, policy: RetentionPolicy): Promise<string> {
  const driver = await pgDriver(schema, { connectionString: url, poolSize: 1 })
  try {
    await driver.check()
    const { deleted, steps, heldBy } = await pruneEvents(driver, policy)
    const held = heldBy
      ? `; kept event ${heldBy.seq} and newer: group "${heldBy.group}" still needs it (drop the group if nobody consumes it)`
      : ''
    return `schema "${schema}": pruned ${deleted} event(s) in ${steps} step(s)${held}`
  } finally {
    await driver.close()
  }
}
