import { fileURLToPath } from 'node:url'
import { type CliIo, runCli } from '@tierbus/cli'
import { describe, expect, it } from 'vitest'

const profile = fileURLToPath(new URL('../../migrator/profiles/mistersmith.yaml', import.meta.url))

function io(env: Record<string, string> = {}): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = []
  const stderr: string[] = []
  return { stdout, stderr, env, out: (t) => void stdout.push(t), err: (t) => void stderr.push(t) }
}

describe('tierbus CLI', () => {
  it('plan prints the seed 000 table, and --json the same numbers as JSON', async () => {
    const text = io()
    expect(await runCli(['plan', profile], text)).toBe(0)
    expect(text.stdout.join('\n')).toMatch(/TOTAL\s+675\s+9\.3 MB\/s\s+58\.3M\s+1\.75B/)
    const json = io()
    expect(await runCli(['plan', profile, '--json'], json)).toBe(0)
    expect(JSON.parse(json.stdout.join('')).peaks.stress_conditions.messagesPerSecond).toBe(3375)
  })

  it('plan prices every option and prints the recommended route table in TIERBUS_ROUTES form', async () => {
    const routes = 'coord.>=amqp;agent.>=sqs;work.>=sqs;health.>=amqp;metrics.>=nats;>=sqs'
    const text = io()
    expect(await runCli(['plan', profile], text)).toBe(0)
    const printed = text.stdout.join('\n')
    expect(printed).toMatch(/amazon-mq\s+\$2,359\.91/)
    expect(printed).toMatch(/eventbridge-sqs-sns\s+\$2,579\.99\s+\[no tier\]/)
    expect(printed).toMatch(/msk\s+\$1,700\.07/)
    expect(printed).toMatch(/^\s+coord\.>\s+-> amqp\s+coordination: real-time/m)
    expect(printed).toContain(`TIERBUS_ROUTES='${routes}'`)
    const json = io()
    expect(await runCli(['plan', profile, '--json'], json)).toBe(0)
    const plan = JSON.parse(json.stdout.join(''))
    expect(plan.routes.env).toBe(routes)
    expect(plan.routes.routes.at(-1)).toMatchObject({ match: '>', transport: 'sqs', class: null })
    expect(
      plan.costs.find((c: { option: string }) => c.option === 'msk').items.map((i: { name: string }) => i.name),
    ).toEqual(['cluster', 'storage', 'data transfer'])
    const only = io()
    expect(await runCli(['plan', profile, '--routes'], only)).toBe(0)
    expect(only.stdout).toEqual([routes])
    const both = io()
    expect(await runCli(['plan', profile, '--routes', '--json'], both)).toBe(2)
    expect(both.stderr[0]).toMatch(/--json or --routes, not both/)
  })

  it('advise recommends a tier with reasons, from flags or a metrics snapshot', async () => {
    const out = io()
    expect(await runCli(['advise', '--current', 'db-realtime', '--events-per-day', '15000'], out)).toBe(0)
    expect(out.stdout[0]).toBe('migrate to redis-streams (from db-realtime)')
    expect(out.stdout[1]).toMatch(/15,000 events\/day > 10,000/)
    const json = io()
    expect(
      await runCli(['advise', '--current', 'db-realtime', '--events-per-day', '2500', '--agents', '8', '--json'], json),
    ).toBe(0)
    expect(JSON.parse(json.stdout.join(''))).toMatchObject({ action: 'stay', recommendedTier: 'db-realtime' })
  })

  it('dlq lists and redrives the dead letters of the tier TIERBUS_TRANSPORT names', async () => {
    const env = {
      TIERBUS_TRANSPORT: 'redis',
      REDIS_URL: 'redis://127.0.0.1:6379',
      TIERBUS_REDIS_PREFIX: `tbcli-${Math.random().toString(36).slice(2, 10)}`,
    }
    const out = io(env)
    expect(await runCli(['dlq', 'list'], out)).toBe(0)
    expect(out.stdout).toEqual(['no dead letters'])
    const redrive = io(env)
    expect(await runCli(['dlq', 'redrive'], redrive)).toBe(2)
    expect(redrive.stderr[0]).toMatch(/needs dead-letter ids/)
    // --all on an empty DLQ is not an error.
    const all = io(env)
    expect(await runCli(['dlq', 'redrive', '--all'], all)).toBe(0)
    expect(all.stdout).toEqual(['nothing to redrive: no dead letters'])
  })

  it('dlq refuses to read a fresh in-process memory bus instead of silently saying none', async () => {
    const unset = io({})
    expect(await runCli(['dlq', 'list'], unset)).toBe(2)
    expect(unset.stderr[0]).toMatch(/set TIERBUS_TRANSPORT/)
    const memory = io({ TIERBUS_TRANSPORT: 'memory' })
    expect(await runCli(['dlq', 'list'], memory)).toBe(2)
    expect(memory.stderr[0]).toMatch(/inside the app process/)
  })

  it('advise accepts TIERBUS_TRANSPORT names as well as tier names', async () => {
    const out = io()
    expect(await runCli(['advise', '--current', 'postgres', '--events-per-day', '15000'], out)).toBe(0)
    expect(out.stdout[0]).toBe('migrate to redis-streams (from db-realtime)')
    const bad = io()
    expect(await runCli(['advise', '--current', 'kafka', '--events-per-day', '1'], bad)).toBe(2)
    expect(bad.stderr[0]).toMatch(/postgres, pglite, supabase, redis/)
  })

  it('migrate advances, rolls back and reports the phase in the shared store', async () => {
    const schema = `tbcli_${Math.random().toString(36).slice(2, 10)}`
    const env = {
      TIERBUS_MIGRATION: 'postgres->redis',
      TIERBUS_MIGRATION_STORE: 'postgres://postgres@127.0.0.1:5432/test',
      TIERBUS_MIGRATION_SCHEMA: schema,
    }
    try {
      for (const step of ['advance', 'advance', 'rollback', 'advance'])
        expect(await runCli(['migrate', step], io(env))).toBe(0)
      const status = io(env)
      expect(await runCli(['migrate', 'status', '--json'], status)).toBe(0)
      const json = JSON.parse(status.stdout.join(''))
      expect(json.phase).toBe('shadow')
      expect(json.history.map((h: { phase: string }) => h.phase)).toEqual([
        'dual-write',
        'shadow',
        'dual-write',
        'shadow',
      ])
      const text = io(env)
      await runCli(['migrate', 'advance'], text)
      expect(text.stdout[0]).toBe('postgres->redis: cutover (was shadow)')
      const noEnv = io({})
      expect(await runCli(['migrate', 'status'], noEnv)).toBe(2)
      expect(noEnv.stderr[0]).toMatch(/set TIERBUS_MIGRATION/)
    } finally {
      const pg = (await import('pg')).default
      const pool = new pg.Pool({ connectionString: env.TIERBUS_MIGRATION_STORE })
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await pool.end()
    }
  })

  it('db migrate applies the db tier schema, then reports it up to date', async () => {
    const schema = `tbclidb_${Math.random().toString(36).slice(2, 10)}`
    const env = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test' }
    try {
      const first = io(env)
      expect(await runCli(['db', 'migrate', '--schema', schema], first)).toBe(0)
      expect(first.stdout[0]).toMatch(/applied migrations 1, 2, 3/)
      const again = io(env)
      expect(await runCli(['db', 'migrate', '--schema', schema], again)).toBe(0)
      expect(again.stdout[0]).toMatch(/up to date/)
    } finally {
      const pg = (await import('pg')).default
      const pool = new pg.Pool({ connectionString: env.DATABASE_URL })
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await pool.end()
    }
  })

  it('fails with exit code 2 and the reason on bad usage', async () => {
    const cases: string[][] = [
      ['frobnicate'],
      ['plan'],
      ['plan', '/nonexistent.yaml'],
      ['advise', '--current', 'kafka'],
      ['advise', '--current', 'db-realtime'],
      ['dlq', 'list', '--bogus'],
    ]
    for (const argv of cases) {
      const out = io({ TIERBUS_TRANSPORT: 'memory' })
      expect(await runCli(argv, out), argv.join(' ')).toBe(2)
      expect(out.stderr.join('\n').length, argv.join(' ')).toBeGreaterThan(10)
    }
  })
})

describe('tierbus launcher (bin/tierbus.js)', () => {
  it('says "not built" only when its own build is missing, and names any other missing module', async () => {
    const { mkdtempSync, mkdirSync, copyFileSync, writeFileSync, rmSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const { spawnSync } = await import('node:child_process')
    const dir = mkdtempSync(join(tmpdir(), 'tierbus-launcher-'))
    try {
      mkdirSync(join(dir, 'bin'))
      copyFileSync(fileURLToPath(new URL('../bin/tierbus.js', import.meta.url)), join(dir, 'bin/tierbus.js'))
      writeFileSync(join(dir, 'package.json'), '{"type":"module"}')
      const run = () => spawnSync(process.execPath, [join(dir, 'bin/tierbus.js')], { encoding: 'utf8' })
      const unbuilt = run()
      expect(unbuilt.status).toBe(1)
      expect(unbuilt.stderr).toMatch(/not built yet/)
      mkdirSync(join(dir, 'dist'))
      writeFileSync(join(dir, 'dist/bin.js'), "import 'tierbus-missing-dependency'\n")
      const broken = run()
      expect(broken.status).toBe(1)
      expect(broken.stderr).toMatch(/tierbus-missing-dependency/)
      expect(broken.stderr).not.toMatch(/not built yet/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
