import { ConfigError } from '@tierbus/core'
import type { SqlRunner } from './migrations.js'

/** How every table tierbus creates is commented; an existing schema is tierbus's when its tables say so. */
export const OWNED_MARK = 'tierbus:'

/**
 * What a schema holds, as far as ownership goes: whether it exists, whether tierbus migrated it (its
 * `events` or `migrations` table carries the mark), and how many tables and functions are not tierbus's.
 */
const OWNERSHIP_SQL = `
SELECT
  EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1::text) AS present,
  coalesce(obj_description(to_regclass(format('%I.events', $1::text)), 'pg_class'), '') LIKE $2::text || '%'
    OR coalesce(obj_description(to_regclass(format('%I.migrations', $1::text)), 'pg_class'), '') LIKE $2::text || '%' AS migrated,
  (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1::text AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND coalesce(obj_description(c.oid, 'pg_class'), '') NOT LIKE $2::text || '%')::int AS foreign_tables,
  (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1::text)::int AS functions`

/**
 * Refuses to migrate into a schema tierbus did not create: one that exists and holds the app's tables or
 * functions (migrating would add tierbus's objects beside them and run its grants there). Accepted: a
 * missing schema (created), one tierbus migrated before, and an empty one (e.g. created by a DBA with
 * its grants, or holding only the migrator's own marked tables).
 */
export async function assertOwnSchema(run: SqlRunner, schema: string): Promise<void> {
  const [row] = await run.query(OWNERSHIP_SQL, [schema, OWNED_MARK])
  if (!row?.present || row.migrated) return
  if (Number(row.foreign_tables) === 0 && Number(row.functions) === 0) return
  throw new ConfigError(
    `schema "${schema}" already exists and was not created by tierbus (it holds ${Number(row.foreign_tables)} table(s) and ${Number(row.functions)} function(s) of its own): ` +
      'give tierbus a dedicated schema, e.g. "tierbus" (option schema / env TIERBUS_DB_SCHEMA), so its migrations and grants never touch your objects',
  )
}
