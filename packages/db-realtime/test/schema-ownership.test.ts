import { ConfigError } from '@tierbus/core'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { migrate, migrationSql, postgresTransport } from '../src/index.js'
import { DATABASE_URL, dropSchema, freshSchema } from './helpers.js'

/** The privileges granted on a schema's tables and functions, as `relation:grantee:privilege` lines. */
async function grantsIn(pool: pg.Pool, schema: string): Promise<string[]> {
  const { rows } = await pool.query(
    `SELECT c.relname AS name, a.grantee::regrole::text AS grantee, a.privilege_type AS privilege
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a WHERE n.nspname = $1
     UNION ALL
     SELECT p.proname, a.grantee::regrole::text, a.privilege_type
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace, aclexplode(p.proacl) a WHERE n.nspname = $1`,
    [schema],
  )
  return rows.map((r) => `${r.name}:${r.grantee === '-' ? 'PUBLIC' : r.grantee}:${r.privilege}`).sort()
}

describe('schema ownership', () => {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 3 })
  const schemas: string[] = []
  const schema = () => {
    const s = freshSchema()
    schemas.push(s)
    return s
  }
  afterAll(async () => {
    for (const s of schemas) await dropSchema(s)
    await pool.end()
  })

  it("refuses schema 'public' with a ConfigError that says to use a dedicated schema", async () => {
    const before = await grantsIn(pool, 'public')
    for (const attempt of [
      () => migrate(pool, { schema: 'public' }),
      () => postgresTransport({ url: DATABASE_URL, schema: 'public' }),
    ]) {
      const err = await attempt().catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ConfigError)
      expect((err as Error).message).toMatch(/"public" refused.*dedicated schema/)
    }
    expect(() => migrationSql('public')).toThrow(ConfigError)
    expect(await grantsIn(pool, 'public')).toEqual(before)
  })

  it("refuses an existing schema holding the app's objects, and leaves it and its grants untouched", async () => {
    const s = schema()
    await pool.query(`CREATE SCHEMA "${s}"; CREATE TABLE "${s}".orders (id int); GRANT SELECT ON "${s}".orders TO PUBLIC;
      CREATE FUNCTION "${s}".order_total() RETURNS int LANGUAGE sql AS 'SELECT 1'`)
    const before = await grantsIn(pool, s)
    expect(before).toContain('orders:PUBLIC:SELECT')
    const err = await migrate(pool, { schema: s }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toMatch(/already exists and was not created by tierbus.*dedicated schema/)
    expect(await grantsIn(pool, s)).toEqual(before)
    const { rows } = await pool.query(`SELECT tablename FROM pg_tables WHERE schemaname = $1`, [s])
    expect(rows.map((r) => r.tablename)).toEqual(['orders'])
  })

  it('adopts an empty existing schema or one holding only tierbus-marked tables, and accepts one migrated before the mark', async () => {
    const empty = schema()
    await pool.query(`CREATE SCHEMA "${empty}"`)
    expect((await migrate(pool, { schema: empty })).applied.length).toBeGreaterThan(0)
    // The migrator's Postgres store marks its tables: the db tier may share that schema.
    const shared = schema()
    await pool.query(
      `CREATE SCHEMA "${shared}"; CREATE TABLE "${shared}".migration_state (migration text); COMMENT ON TABLE "${shared}".migration_state IS 'tierbus: live migration state'`,
    )
    expect((await migrate(pool, { schema: shared })).applied.length).toBeGreaterThan(0)
    const legacy = schema()
    await migrate(pool, { schema: legacy })
    await pool.query(`COMMENT ON TABLE "${legacy}".migrations IS NULL`)
    expect((await migrate(pool, { schema: legacy })).applied).toEqual([])
  })

  it("revokes and grants only tierbus's own tables and functions by name, never the app's objects beside them", async () => {
    const s = schema()
    await migrate(pool, { schema: s })
    // The app later puts its own table and function into tierbus's schema and opens them up.
    await pool.query(`CREATE TABLE "${s}".app_notes (id int); GRANT SELECT ON "${s}".app_notes TO PUBLIC;
      CREATE FUNCTION "${s}".app_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'; GRANT EXECUTE ON FUNCTION "${s}".app_fn() TO PUBLIC`)
    const appGrants = (await grantsIn(pool, s)).filter((g) => g.startsWith('app_'))
    expect(appGrants).toEqual(expect.arrayContaining(['app_fn:PUBLIC:EXECUTE', 'app_notes:PUBLIC:SELECT']))
    // Re-running the rendered SQL (a Supabase migration file re-applied) still touches only tierbus's objects.
    await pool.query(migrationSql(s))
    expect((await grantsIn(pool, s)).filter((g) => g.startsWith('app_'))).toEqual(appGrants)
    expect(migrationSql(s)).not.toMatch(/ALL (TABLES|FUNCTIONS|SEQUENCES) IN SCHEMA/)
    // tierbus's own objects are still closed to PUBLIC.
    expect((await grantsIn(pool, s)).filter((g) => g.includes(':PUBLIC:') && !g.startsWith('app_'))).toEqual([])
  })
})
