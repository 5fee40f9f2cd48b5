/**
 * The packages as an app installs them: every package packed with `npm pack` and installed from the tarballs
 * into a temp dir outside the workspace (one npm install). Their bins run through `npx` from that install, and
 * their type declarations compile with `tsc --noEmit`, `skipLibCheck: false`: first with the optional peers
 * installed (their real clients must fit tierbus's client types: test/consumer-types/peers.ts), then with
 * those peers removed (every public entry must still type-check: test/consumer-types/bare.ts).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { installedVersion, packPackages, repoRoot, run } from './pack.js'

/**
 * Optional peers whose types an app must not need: removed before the bare check. (PGlite's own .d.ts
 * refers to Emscripten's types without depending on them: with skipLibCheck false an app adds @types/emscripten.)
 */
const OPTIONAL_PEERS = [
  'pg',
  '@types/pg',
  '@electric-sql/pglite',
  '@types/emscripten',
  '@supabase/supabase-js',
  'ioredis',
  '@upstash/redis',
  '@aws-sdk/client-s3',
]
/** What every app has: the compiler, Node's types, zod, and the required peers of sqs-sns and nats. */
const BASE = ['typescript', '@types/node', 'zod', '@aws-sdk/client-sqs', '@aws-sdk/client-sns', 'nats']

let dir: string

function tsconfig(file: string): string {
  const name = `tsconfig.${file}.json`
  // Like a Next.js app: every installed @types package is included.
  const compilerOptions = {
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    target: 'es2022',
    module: 'esnext',
    moduleResolution: 'bundler',
  }
  writeFileSync(join(dir, name), JSON.stringify({ compilerOptions, files: [`${file}.ts`] }, null, 2))
  return name
}

function tsc(file: string): string {
  return run(process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tsconfig(file)], dir)
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tierbus-types-'))
  const packs = join(dir, 'packs')
  mkdirSync(packs)
  const packed = packPackages(packs)
  const dependencies: Record<string, string> = {}
  for (const pkg of packed) dependencies[`@tierbus/${pkg}`] = `file:${join(packs, `tierbus-${pkg}.tgz`)}`
  for (const name of [...BASE, ...OPTIONAL_PEERS]) dependencies[name] = installedVersion(name)
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'tierbus-types-app', private: true, type: 'module', dependencies }, null, 2),
  )
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], dir)
  for (const file of ['bare.ts', 'peers.ts'])
    copyFileSync(join(repoRoot, 'test', 'consumer-types', file), join(dir, file))
}, 600_000)

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('bins installed from the tarballs', () => {
  it('`npx tierbus` runs @tierbus/cli, with the profile the docs name where npm put it', () => {
    // --no: never fetch from the registry (the npm name `tierbus` is not ours).
    const routes = run(
      'npx',
      ['--no', 'tierbus', 'plan', 'node_modules/@tierbus/migrator/profiles/mistersmith.yaml', '--routes'],
      dir,
    )
    expect(routes.trim()).toBe('coord.>=amqp;agent.>=sqs;work.>=sqs;health.>=amqp;metrics.>=nats;>=sqs')
  }, 120_000)

  it("`npx tierbus-db sql` runs @tierbus/db-realtime's schema CLI", () => {
    expect(run('npx', ['--no', 'tierbus-db', 'sql', '--schema', 'app_events'], dir)).toContain(
      'CREATE TABLE IF NOT EXISTS "app_events".events',
    )
  }, 120_000)
})

describe('type declarations in an app (tsc, skipLibCheck: false)', () => {
  it('accept the real pg Pool, PGlite, supabase-js client, ioredis and @upstash/redis clients', () => {
    expect(tsc('peers')).toBe('')
  }, 300_000)

  it('type-check every public entry without pg, @types/pg, PGlite, supabase-js, ioredis or @upstash/redis', () => {
    for (const peer of OPTIONAL_PEERS) rmSync(join(dir, 'node_modules', peer), { recursive: true, force: true })
    expect(OPTIONAL_PEERS.filter((peer) => existsSync(join(dir, 'node_modules', peer)))).toEqual([])
    expect(tsc('bare')).toBe('')
  }, 300_000)
})
