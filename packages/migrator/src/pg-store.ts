import { ConfigError } from '@tierbus/core'
import { postgresDedupStore } from '@tierbus/db-realtime'
import { assertPhaseStep, storedPhase } from './phase-transitions.js'
import type { Phase } from './phases.js'
import type { MigrationStore, PhaseChange } from './store.js'

/** The node-postgres call this store makes (a `pg` `Pool` or `Client` fits). */
export interface PgLike {
  query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>
  end?(): Promise<void>
}

/** Options of `postgresMigrationStore`. */
export interface PostgresMigrationStoreOptions {
  /** Schema of the store's tables (default `tierbus`); created if missing. */
  schema?: string
  /** End the pool in `close()` (default false: the caller owns it). */
  ownsClient?: boolean
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/

/** Migration state in Postgres tables (`migration_dedup`, `migration_state`, `migration_phase`), created on first use. */
export async function postgresMigrationStore(
  db: PgLike,
  options: PostgresMigrationStoreOptions = {},
): Promise<MigrationStore> {
  const schema = options.schema ?? 'tierbus'
  if (!IDENT.test(schema))
    throw new ConfigError(
      `invalid schema name ${JSON.stringify(schema)}: use lowercase letters, digits and '_' (max 63)`,
    )
  const s = `"${schema}"`
  // Creates the schema, and the dedup table with Row Level Security on.
  const dedup = await postgresDedupStore(db, { schema, table: 'migration_dedup' })
  await db.query(
    `CREATE TABLE IF NOT EXISTS ${s}.migration_phase (id bigserial PRIMARY KEY, migration text NOT NULL, phase text NOT NULL, at timestamptz NOT NULL DEFAULT now())`,
  )
  await db.query(`CREATE INDEX IF NOT EXISTS migration_phase_by_migration ON ${s}.migration_phase (migration, id)`)
  // The current phase, one row per migration, changed only by a conditional UPDATE (compare-and-set).
  await db.query(`CREATE TABLE IF NOT EXISTS ${s}.migration_state (migration text PRIMARY KEY, phase text NOT NULL)`)
  // Stores created before migration_state existed: their current phase is the last history entry.
  await db.query(
    `INSERT INTO ${s}.migration_state (migration, phase)
     SELECT DISTINCT ON (migration) migration, phase FROM ${s}.migration_phase ORDER BY migration, id DESC
     ON CONFLICT (migration) DO NOTHING`,
  )
  // Marked as tierbus's, so the db tier may migrate into this schema too (see db-realtime's schema ownership).
  const unmarked = await db.query(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relname LIKE 'migration\\_%' AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') IS NULL`,
    [schema],
  )
  for (const row of unmarked.rows)
    await db.query(`COMMENT ON TABLE ${s}."${String(row.relname)}" IS 'tierbus: live migration state'`)
  // Row Level Security with no policy: anon/authenticated keys of Supabase cannot touch migration state.
  await db.query(`ALTER TABLE ${s}.migration_phase ENABLE ROW LEVEL SECURITY`)
  await db.query(`ALTER TABLE ${s}.migration_state ENABLE ROW LEVEL SECURITY`)
  return {
    ...dedup,
    async readPhase(migration) {
      const r = await db.query(`SELECT phase FROM ${s}.migration_state WHERE migration = $1`, [migration])
      const [row] = r.rows
      return row ? storedPhase(migration, String(row.phase)) : undefined
    },
    async writePhase(migration, phase: Phase, expected) {
      assertPhaseStep(migration, expected, phase)
      // One statement: the state row changes only from `expected` (a concurrent writer waits for the row
      // lock, then sees the new phase and matches nothing), and the history row is written with it.
      const changed =
        expected === undefined
          ? `INSERT INTO ${s}.migration_state (migration, phase) VALUES ($1, $2) ON CONFLICT (migration) DO NOTHING RETURNING migration`
          : `UPDATE ${s}.migration_state SET phase = $2 WHERE migration = $1 AND phase = $3 RETURNING migration`
      const r = await db.query(
        `WITH changed AS (${changed}) INSERT INTO ${s}.migration_phase (migration, phase) SELECT migration, $2 FROM changed RETURNING id`,
        expected === undefined ? [migration, phase] : [migration, phase, expected],
      )
      return r.rows.length === 1
    },
    async history(migration) {
      const r = await db.query(`SELECT phase, at FROM ${s}.migration_phase WHERE migration = $1 ORDER BY id`, [
        migration,
      ])
      return r.rows.map(
        (row) =>
          ({
            phase: storedPhase(migration, String(row.phase)),
            at: new Date(row.at as string).toISOString(),
          }) as PhaseChange,
      )
    },
    async close() {
      if (options.ownsClient) await db.end?.()
    },
  }
}
