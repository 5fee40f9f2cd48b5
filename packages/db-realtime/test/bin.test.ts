// The `tierbus-db` command as npm links it: bin/tierbus-db.js running the built dist/bin.js (build first).
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { MIGRATIONS } from '../src/index.js'
import { DATABASE_URL, dropSchema, freshSchema } from './helpers.js'

const launcher = fileURLToPath(new URL('../bin/tierbus-db.js', import.meta.url))

function tierbusDb(args: string[], env: Record<string, string>, bin = launcher) {
  return spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env },
  })
}

describe('tierbus-db (bin/tierbus-db.js)', () => {
  const schemas: string[] = []
  afterAll(async () => {
    for (const s of schemas) await dropSchema(s)
  })

  it('migrate applies the schema on DATABASE_URL and exits 0, then reports it up to date; sql prints the SQL', () => {
    const schema = freshSchema()
    schemas.push(schema)
    const first = tierbusDb(['migrate', '--schema', schema], { DATABASE_URL })
    expect(first.stderr).toBe('')
    expect(first.status).toBe(0)
    expect(first.stdout.trim()).toBe(
      `schema "${schema}": applied migrations ${MIGRATIONS.map((m) => m.version).join(', ')}`,
    )
    const again = tierbusDb(['migrate', '--schema', schema], { DATABASE_URL })
    expect([again.status, again.stdout.trim()]).toEqual([0, `schema "${schema}": up to date`])
    expect(tierbusDb(['sql', '--schema', schema], {}).stdout).toContain(`CREATE TABLE IF NOT EXISTS "${schema}".events`)
  })

  it('exits 1 with what to do when DATABASE_URL is missing or the command is unknown', () => {
    const noUrl = tierbusDb(['migrate'], {})
    expect([noUrl.status, noUrl.stderr]).toEqual([1, expect.stringMatching(/set DATABASE_URL/)])
    const unknown = tierbusDb(['migrat'], {})
    expect([unknown.status, unknown.stderr]).toEqual([1, expect.stringMatching(/usage: tierbus-db migrate/)])
  })

  it('says "not built" only when its own build is missing, and names any other missing module', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tierbus-db-launcher-'))
    try {
      mkdirSync(join(dir, 'bin'))
      const bin = join(dir, 'bin', 'tierbus-db.js')
      copyFileSync(launcher, bin)
      writeFileSync(join(dir, 'package.json'), '{"type":"module"}')
      const unbuilt = tierbusDb([], {}, bin)
      expect([unbuilt.status, unbuilt.stderr]).toEqual([1, expect.stringMatching(/not built yet/)])
      mkdirSync(join(dir, 'dist'))
      writeFileSync(join(dir, 'dist', 'bin.js'), "import 'tierbus-missing-dependency'\n")
      const broken = tierbusDb([], {}, bin)
      expect(broken.status).toBe(1)
      expect(broken.stderr).toMatch(/tierbus-missing-dependency/)
      expect(broken.stderr).not.toMatch(/not built yet/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
