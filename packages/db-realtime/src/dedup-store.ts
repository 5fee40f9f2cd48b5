import { type ClaimResult, ConfigError, type DedupStore, dedupStateValue } from '@tierbus/core'
import { OWNED_MARK } from './schema-ownership.js'

/** The one call a Postgres dedup store makes: a `pg` `Pool` or `Client`, or a PGlite instance, fits. */
export interface SqlQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>
}

/** Options of `postgresDedupStore`. */
export interface PostgresDedupStoreOptions {
  /** Schema of the table (default `tierbus`); created if missing. */
  schema?: string
  /** Table name (default `dedup`); created if missing. */
  table?: string
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/

/** Deletes expired keys after every this many completions (the table never grows without bound). */
const SWEEP_EVERY = 1_000

/**
 * A dedup store in a Postgres table (`idempotent({ store })`, the migrator's cross-tier dedup), created on
 * first use with Row Level Security on and no policy (Supabase's anon/authenticated keys cannot read it),
 * commented as tierbus's so the db tier may share its schema.
 * Each claim is one conditional upsert, so it is atomic across processes. Works on PGlite too.
 */
export async function postgresDedupStore(
  db: SqlQueryable,
  options: PostgresDedupStoreOptions = {},
): Promise<DedupStore> {
  const schema = options.schema ?? 'tierbus'
  const table = options.table ?? 'dedup'
  for (const [what, name] of [
    ['schema', schema],
    ['table', table],
  ] as const) {
    if (!IDENT.test(name))
      throw new ConfigError(
        `invalid ${what} name ${JSON.stringify(name)}: use lowercase letters, digits and '_' (max 63)`,
      )
  }
  const t = `"${schema}"."${table}"`
  await db.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`)
  await db.query(
    `CREATE TABLE IF NOT EXISTS ${t} (key text PRIMARY KEY, state text NOT NULL, expires_at timestamptz NOT NULL)`,
  )
  await db.query(`ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY`)
  // Marked as tierbus's (schema ownership), so the db tier may still migrate into this schema.
  await db.query(
    `DO $$ BEGIN IF obj_description('${t}'::regclass, 'pg_class') IS NULL THEN COMMENT ON TABLE ${t} IS '${OWNED_MARK} dedup keys'; END IF; END $$`,
  )
  const ms = (value: number) => Math.max(1, Math.round(value))
  let completes = 0
  return {
    async claim(key, leaseMs, holder) {
      // state is 'processing' or 'done', followed by ':<holder>' when one is known; the holder may claim its own key again.
      for (let i = 0; i < 3; i++) {
        const won = await db.query(
          `INSERT INTO ${t} (key, state, expires_at) VALUES ($1, $3, now() + $2 * interval '1 millisecond')
           ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state, expires_at = EXCLUDED.expires_at
           WHERE ${t}.expires_at <= now() OR ($4::text IS NOT NULL AND split_part(${t}.state, ':', 2) = $4::text)
           RETURNING key`,
          [key, ms(leaseMs), dedupStateValue('processing', holder), holder ?? null],
        )
        if (won.rows.length > 0) return 'claimed'
        const held = await db.query(
          `SELECT split_part(state, ':', 1) AS state FROM ${t} WHERE key = $1 AND expires_at > now()`,
          [key],
        )
        if (held.rows.length > 0) return held.rows[0]?.state as ClaimResult
        // The holder expired between the two statements: try again.
      }
      return 'processing'
    },
    async complete(key, ttlMs, holder) {
      await db.query(
        `INSERT INTO ${t} (key, state, expires_at) VALUES ($1, $3, now() + $2 * interval '1 millisecond')
         ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state, expires_at = EXCLUDED.expires_at`,
        [key, ms(ttlMs), dedupStateValue('done', holder)],
      )
      if (++completes % SWEEP_EVERY === 0) await db.query(`DELETE FROM ${t} WHERE expires_at < now()`)
    },
    async release(key) {
      await db.query(`DELETE FROM ${t} WHERE key = $1 AND split_part(state, ':', 1) = 'processing'`, [key])
    },
  }
}
