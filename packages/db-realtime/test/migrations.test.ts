import { ConfigError } from '@tierbus/core'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MIGRATIONS, migrate, migrationSql, runMigrateCli } from '../src/index.js'
import { DATABASE_URL, dropSchema, freshSchema } from './helpers.js'

/** Creates the Supabase roles on the local Postgres if missing (they are cluster-wide; parallel files may race). */
async function ensureSupabaseRoles(pool: pg.Pool): Promise<void> {
  for (const role of ['anon', 'authenticated', 'service_role']) {
    try {
      await pool.query(
        `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN CREATE ROLE ${role} NOLOGIN; END IF; END $$`,
      )
    } catch (err) {
      if ((err as { code?: string }).code !== '23505' && (err as { code?: string }).code !== '42710') throw err
    }
  }
  await pool.query('ALTER ROLE service_role BYPASSRLS')
}

describe('migrations', () => {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 3 })
  const schemas: string[] = []
  const schema = () => {
    const s = freshSchema()
    schemas.push(s)
    return s
  }
  beforeAll(() => ensureSupabaseRoles(pool))
  afterAll(async () => {
    for (const s of schemas) await dropSchema(s)
    await pool.end()
  })

  it('applies every version once, records them, and is a no-op the second time', async () => {
    const s = schema()
    const first = await migrate(pool, { schema: s })
    expect(first.applied).toEqual(MIGRATIONS.map((m) => m.version))
    const second = await migrate(pool, { schema: s })
    expect(second.applied).toEqual([])
    const { rows } = await pool.query(`SELECT version FROM "${s}".migrations ORDER BY version`)
    expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version))
  })

  it('survives concurrent migrate calls on the same schema (advisory lock)', async () => {
    const s = schema()
    const results = await Promise.all([
      migrate(pool, { schema: s }),
      migrate(pool, { schema: s }),
      migrate(pool, { schema: s }),
    ])
    expect(results.flatMap((r) => r.applied).sort()).toEqual(MIGRATIONS.map((m) => m.version))
  })

  it('re-running the rendered SQL on a migrated schema changes nothing (idempotent statements)', async () => {
    const s = schema()
    await migrate(pool, { schema: s })
    await pool.query(migrationSql(s))
    await pool.query(migrationSql(s))
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1`, [s])
    expect(rows[0].n).toBe(6)
  })

  it('rejects an invalid schema name with a ConfigError naming TIERBUS_DB_SCHEMA', async () => {
    for (const bad of ['Tierbus', 'a-b', 'x"; DROP TABLE y; --', 'pg_catalog', '', '1abc']) {
      const err = await migrate(pool, { schema: bad }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ConfigError)
      expect((err as Error).message).toContain('TIERBUS_DB_SCHEMA')
    }
  })

  it('enables row level security on every table with no policy', async () => {
    const s = schema()
    await migrate(pool, { schema: s })
    const { rows } = await pool.query(
      `SELECT c.relname, c.relrowsecurity, (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)::int AS policies
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY c.relname`,
      [s],
    )
    const tables = ['dead_letters', 'deliveries', 'events', 'groups', 'migrations', 'payloads']
    expect(rows.map((r) => r.relname)).toEqual(tables)
    for (const r of rows) {
      expect(r.relrowsecurity).toBe(true)
      expect(r.policies).toBe(0)
    }
  })

  it('lets anon/authenticated neither read nor write events, even when a default grant gave them the table', async () => {
    const s = schema()
    await migrate(pool, { schema: s })
    const client = await pool.connect()
    try {
      await client.query(`INSERT INTO "${s}".events (id, type, source, data) VALUES ('e1', 'a.b', 'test', '{}')`)
      // Simulate Supabase's broad default grants: RLS must still hide and block everything.
      await client.query(
        `GRANT USAGE ON SCHEMA "${s}" TO anon, authenticated; GRANT SELECT, INSERT ON "${s}".events TO anon, authenticated`,
      )
      for (const role of ['anon', 'authenticated']) {
        await client.query('BEGIN')
        await client.query(`SET LOCAL ROLE ${role}`)
        const { rows } = await client.query(`SELECT count(*)::int AS n FROM "${s}".events`)
        expect(rows[0].n).toBe(0)
        const insert = await client
          .query(`INSERT INTO "${s}".events (id, type, source) VALUES ('e2', 'a.b', 'x')`)
          .catch((e: unknown) => e)
        expect((insert as Error).message).toMatch(/row-level security/)
        await client.query('ROLLBACK')
        await client.query('BEGIN')
        await client.query(`SET LOCAL ROLE ${role}`)
        const rpc = await client.query(`SELECT "${s}".publish('[]'::jsonb)`).catch((e: unknown) => e)
        expect((rpc as Error).message).toMatch(/permission denied/)
        await client.query('ROLLBACK')
      }
    } finally {
      await client.query('ROLLBACK').catch(() => {})
      client.release()
    }
  })

  it('grants the RPC functions to service_role, which can publish and read them', async () => {
    const s = schema()
    await migrate(pool, { schema: s })
    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      await client.query('SET LOCAL ROLE service_role')
      const envelope = {
        specversion: '1.0',
        id: 'svc-1',
        source: 'test',
        type: 'a.b',
        time: new Date().toISOString(),
        datacontenttype: 'application/json',
        data: { ok: true },
      }
      const { rows } = await client.query(`SELECT "${s}".publish($1::jsonb) AS n`, [JSON.stringify([envelope])])
      expect(rows[0].n).toBe(1)
      const read = await client.query(`SELECT "${s}".envelope_text(e) AS t FROM "${s}".events e`)
      expect(JSON.parse(read.rows[0].t)).toMatchObject({ id: 'svc-1', data: { ok: true } })
      await client.query('ROLLBACK')
    } finally {
      client.release()
    }
  })

  it('migrates from the CLI entry (DATABASE_URL, --schema) and rejects unknown arguments', async () => {
    const s = schema()
    expect(await runMigrateCli(['migrate', '--schema', s], { DATABASE_URL })).toBe(
      `schema "${s}": applied migrations ${MIGRATIONS.map((m) => m.version).join(', ')}`,
    )
    expect(await runMigrateCli(['migrate', '--schema', s], { DATABASE_URL })).toBe(`schema "${s}": up to date`)
    expect(await runMigrateCli(['sql'], { TIERBUS_DB_SCHEMA: s })).toContain(`CREATE TABLE IF NOT EXISTS "${s}".events`)
    await expect(runMigrateCli(['migrate'], {})).rejects.toThrow(/set DATABASE_URL/)
    await expect(runMigrateCli(['migrate', '--force'], { DATABASE_URL })).rejects.toBeInstanceOf(ConfigError)
  })
})
