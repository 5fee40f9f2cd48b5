/**
 * The npm install as a user gets it: every package packed with `npm pack`, installed from the tarballs into a
 * Next.js app outside the workspace (test/packed-app/template), built once with `next build`, then run with
 * `next start` once per tier — only TIERBUS_TRANSPORT and the tier's own variables change between runs
 * (postgres runs twice: direct, and through a private PgBouncer in transaction mode).
 * For each tier: 20 events published and handled, one forced into the dead-letter queue, and redriven.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '@tierbus/core/testing'
import { Redis } from 'ioredis'
import { connect } from 'nats'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startUpstashBridge, type UpstashBridge } from '../packages/redis-streams/test/upstash-bridge.js'
import { type Emulator, startEmulator } from '../packages/sqs-sns/test/emulator.js'
import { BrokerProcess } from './outage/broker-process.js'
import { type PrivateBroker, startPgBouncer } from './outage/brokers.js'
import { installedVersion, packPackages, repoRoot as root, run } from './pack.js'

const template = join(root, 'test', 'packed-app', 'template')
const token = `pa${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test'
const REDIS_URL = 'redis://127.0.0.1:6379'
const NATS_URL = 'nats://127.0.0.1:4222'

let work: string
let appDir: string
let bridge: UpstashBridge
let emulator: Emulator
let pgbouncer: PrivateBroker
const cleanups: Array<() => unknown> = []

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'tierbus-packed-'))
  cleanups.push(() => rmSync(work, { recursive: true, force: true }))
  const packs = join(work, 'packs')
  mkdirSync(packs)
  packPackages(packs, ['cli'])
  appDir = join(work, 'app')
  cpSync(template, appDir, { recursive: true, filter: (src) => !src.endsWith('package.json.template') })
  const manifest = readFileSync(join(template, 'package.json.template'), 'utf8')
    .replaceAll('__PACKS__', packs)
    .replace(/__VERSION_([^_]+(?:_[^_]+)*)__/g, (_, name: string) => installedVersion(name))
  writeFileSync(join(appDir, 'package.json'), manifest)
  run('npm', ['install', '--include=dev', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], appDir)
  run(process.execPath, [join(appDir, 'node_modules', 'next', 'dist', 'bin', 'next'), 'build'], appDir)
  bridge = await startUpstashBridge(REDIS_URL)
  emulator = await startEmulator()
  pgbouncer = await startPgBouncer({ postgresPort: 5432, database: 'test' })
}, 900_000)

afterAll(async () => {
  await bridge?.close()
  await emulator?.stop()
  await pgbouncer?.cleanup()
  while (cleanups.length) await cleanups.pop()!()
}, 120_000)

interface App {
  readonly url: string
  /** Sends SIGTERM (SIGKILL after 20 s) and resolves with how the process ended. */
  stop(): Promise<{ code: number | null; signal: string | null; ms: number }>
  /** What the server printed so far. */
  output(): string
}

/** The token the app's dead-letter routes require (TIERBUS_ADMIN_TOKEN); every call sends it. */
const ADMIN_TOKEN = `packed-admin-${process.pid}`

/** Starts the built app with `next start` and the tier's env; resolves once the consumer is up. */
async function startApp(env: Record<string, string>, waitForConsumer = true): Promise<App> {
  const port = await freePort()
  const child: ChildProcess = spawn(
    process.execPath,
    [join(appDir, 'node_modules', 'next', 'dist', 'bin', 'next'), 'start', '-p', String(port), '-H', '127.0.0.1'],
    {
      cwd: appDir,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        NODE_ENV: 'production',
        NEXT_TELEMETRY_DISABLED: '1',
        TIERBUS_ADMIN_TOKEN: ADMIN_TOKEN,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let output = ''
  child.stdout!.on('data', (d: Buffer) => (output += d))
  child.stderr!.on('data', (d: Buffer) => (output += d))
  const url = `http://127.0.0.1:${port}`
  const ended = new Promise<{ code: number | null; signal: string | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  )
  const stop = async () => {
    const started = Date.now()
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    const how = await ended
    clearTimeout(timer)
    return { ...how, ms: Date.now() - started }
  }
  cleanups.push(stop)
  const deadline = Date.now() + 90_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`next start exited (${child.exitCode}):\n${output}`)
    const res = await fetch(`${url}/api/handled?run=boot`).catch(() => undefined)
    if (res?.ok && (!waitForConsumer || ((await res.json()) as { ready: boolean }).ready))
      return { url, stop, output: () => output }
    if (Date.now() > deadline)
      throw new Error(`the app did not answer within 90 s (last status ${res?.status}):\n${output}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

async function call(
  app: App,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${app.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: res.status, json: (await res.json().catch(() => ({}))) as Record<string, unknown> }
}

/** Polls `probe` until it returns a value, failing with `what` after the deadline. */
async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** Checks `probe` repeatedly for `ms`, failing the moment it is false. */
async function staysTrue(probe: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (!(await probe())) throw new Error(`expected ${what} for ${ms} ms`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

const tiers: Array<{
  name: string
  transport: string
  env: () => Record<string, string>
  cleanup?: () => Promise<void>
}> = [
  { name: 'memory', transport: 'memory', env: () => ({ TIERBUS_TRANSPORT: 'memory' }) },
  {
    name: 'pglite',
    transport: 'pglite',
    env: () => ({ TIERBUS_TRANSPORT: 'pglite', TIERBUS_PGLITE_DIR: join(work, 'pglite') }),
  },
  {
    name: 'postgres',
    transport: 'postgres',
    env: () => ({ TIERBUS_TRANSPORT: 'postgres', DATABASE_URL: POSTGRES_URL, TIERBUS_DB_SCHEMA: `${token}_pg` }),
    cleanup: () => dropPostgresSchema(`${token}_pg`),
  },
  {
    // Supabase's pooled DATABASE_URL, as Prisma marks it: unnamed statements, polling instead of LISTEN.
    name: 'postgres through PgBouncer 1.18 (transaction mode)',
    transport: 'postgres',
    env: () => ({
      TIERBUS_TRANSPORT: 'postgres',
      DATABASE_URL: `${pgbouncer.url}?pgbouncer=true`,
      TIERBUS_DB_SCHEMA: `${token}_pgb`,
    }),
    cleanup: () => dropPostgresSchema(`${token}_pgb`),
  },
  {
    name: 'redis',
    transport: 'redis',
    env: () => ({ TIERBUS_TRANSPORT: 'redis', REDIS_URL, TIERBUS_REDIS_PREFIX: `${token}-redis` }),
    cleanup: () => deleteRedisKeys(`${token}-redis`),
  },
  {
    name: 'upstash (REST bridge onto the local Redis)',
    transport: 'upstash',
    env: () => ({
      TIERBUS_TRANSPORT: 'upstash',
      UPSTASH_REDIS_REST_URL: bridge.url,
      UPSTASH_REDIS_REST_TOKEN: bridge.token,
      TIERBUS_REDIS_PREFIX: `${token}-upstash`,
    }),
    cleanup: () => deleteRedisKeys(`${token}-upstash`),
  },
  {
    name: 'sqs (emulator)',
    transport: 'sqs',
    env: () => ({
      TIERBUS_TRANSPORT: 'sqs',
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL: emulator.endpoint,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      TIERBUS_SQS_PREFIX: `${token}-sqs`,
      TIERBUS_SQS_PROVISION: 'true',
    }),
  },
  {
    name: 'nats',
    transport: 'nats',
    env: () => ({
      TIERBUS_TRANSPORT: 'nats',
      NATS_URL,
      TIERBUS_NATS_PREFIX: `${token}.nats`,
      TIERBUS_NATS_STREAM: `${token.toUpperCase()}_NATS`,
    }),
    cleanup: async () => {
      const nc = await connect({ servers: NATS_URL })
      const jsm = await nc.jetstreamManager()
      for await (const s of jsm.streams.list())
        if (s.config.name.startsWith(`${token.toUpperCase()}_NATS`)) await jsm.streams.delete(s.config.name)
      await nc.close()
    },
  },
]

async function dropPostgresSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL })
  await client.connect()
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await client.end()
}

async function deleteRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL)
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
    if (keys.length) await redis.del(...keys)
    cursor = next
  } while (cursor !== '0')
  await redis.quit()
}

describe('packed tarballs in a Next.js app outside the workspace (next build && next start)', () => {
  for (const tier of tiers) {
    it(`${tier.name}: handles 20 events, dead-letters a failing one and redrives it, with only env changed`, async () => {
      const app = await startApp(tier.env())
      try {
        const runId = `${tier.transport}-${Date.now().toString(36)}`
        const published = await call(app, 'POST', '/api/publish', { run: runId, count: 20 })
        expect(published.status).toBe(201)
        expect(published.json.transport).toBe(tier.transport)
        const handled = await until(async () => {
          const { json } = await call(app, 'GET', `/api/handled?run=${runId}`)
          return (json.handled as number[]).length === 20 ? (json.handled as number[]) : undefined
        }, `20 handled events on ${tier.name}`)
        expect(handled).toEqual(Array.from({ length: 20 }, (_, n) => n))

        const failRun = `${runId}-dlq`
        expect((await call(app, 'POST', '/api/failing', { failing: true })).json.failing).toBe(true)
        expect((await call(app, 'POST', '/api/publish', { run: failRun, count: 1 })).status).toBe(201)
        const dead = await until(async () => {
          const { json } = await call(app, 'GET', '/api/dlq?group=fulfilment')
          const list = (json.deadLetters ?? []) as Array<{
            id: string
            envelope?: { data?: { run?: string } }
            reason: { error: string }
          }>
          return list.find((d) => d.envelope?.data?.run === failRun)
        }, `the failing event in the dead-letter queue on ${tier.name}`)
        expect(dead.reason.error).toMatch(/downstream unavailable/)
        // The dead-letter routes hold payloads: without the admin token they refuse.
        expect((await fetch(`${app.url}/api/dlq?group=fulfilment`)).status).toBe(401)

        await call(app, 'POST', '/api/failing', { failing: false })
        const redriven = await call(app, 'POST', '/api/dlq', { ids: [dead.id] })
        expect(redriven.json).toMatchObject({ requested: 1, redriven: 1 })
        await until(async () => {
          const { json } = await call(app, 'GET', `/api/handled?run=${failRun}`)
          return (json.handled as number[]).length === 1 ? true : undefined
        }, `the redriven event handled on ${tier.name}`)
      } finally {
        await app.stop()
        await tier.cleanup?.()
      }
    }, 180_000)
  }
})

describe('packed app: boot, shutdown and recovery (next start)', () => {
  it('starts while its tier is down, answers the tierbus routes with a JSON 503, and recovers by itself when the tier comes up', async () => {
    const port = await freePort()
    const redis = new BrokerProcess({
      name: `redis-server :${port}`,
      command: 'redis-server',
      args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      ports: [port],
    })
    cleanups.push(() => redis.kill())
    const app = await startApp(
      { TIERBUS_TRANSPORT: 'redis', REDIS_URL: `redis://127.0.0.1:${port}`, TIERBUS_REDIS_PREFIX: `${token}-down` },
      false,
    )
    try {
      expect((await fetch(`${app.url}/`)).status).toBe(200)
      const down = await call(app, 'GET', '/api/dlq?group=fulfilment')
      expect(down.status).toBe(503)
      expect(down.json).toEqual({ error: 'the event tier is unavailable; try again later', code: 'TRANSPORT' })
      expect((await call(app, 'GET', '/api/handled?run=x')).json.ready).toBe(false)

      await redis.start()
      await until(
        async () => ((await call(app, 'GET', '/api/handled?run=x')).json.ready === true ? true : undefined),
        'the consumer to start once Redis is up',
        60_000,
      )
      const runId = `down-${Date.now().toString(36)}`
      expect((await call(app, 'POST', '/api/publish', { run: runId, count: 5 })).status).toBe(201)
      await until(
        async () =>
          ((await call(app, 'GET', `/api/handled?run=${runId}`)).json.handled as number[]).length === 5
            ? true
            : undefined,
        '5 events handled after recovery',
      )
    } finally {
      await app.stop()
      await redis.kill()
    }
  }, 180_000)

  it('closes the shared bus on SIGTERM: after a restart on the same PGlite data no handled event is handled again', async () => {
    const env = { TIERBUS_TRANSPORT: 'pglite', TIERBUS_PGLITE_DIR: join(work, 'pglite-sigterm') }
    const first = await startApp(env)
    const runId = `sigterm-${Date.now().toString(36)}`
    expect((await call(first, 'POST', '/api/publish', { run: runId, count: 20 })).status).toBe(201)
    await until(
      async () =>
        ((await call(first, 'GET', `/api/handled?run=${runId}`)).json.handled as number[]).length === 20
          ? true
          : undefined,
      '20 handled',
    )
    const stopped = await first.stop()
    expect(stopped, first.output()).toMatchObject({ code: 143 })
    expect(stopped.ms).toBeLessThan(20_000)

    const second = await startApp(env)
    try {
      // A marker published after the restart is handled once its predecessors' leases (3 s) would have run out.
      const marker = `${runId}-after`
      expect((await call(second, 'POST', '/api/publish', { run: marker, count: 1 })).status).toBe(201)
      await until(
        async () =>
          ((await call(second, 'GET', `/api/handled?run=${marker}`)).json.handled as number[]).length === 1
            ? true
            : undefined,
        'the marker handled',
      )
      // Nothing of the first run may come back: a redelivery would arrive within its 3 s lease.
      await staysTrue(
        async () => ((await call(second, 'GET', `/api/handled?run=${runId}`)).json.handled as number[]).length === 0,
        4_000,
        'no redelivered event',
      )
      expect((await call(second, 'GET', `/api/handled?run=${runId}`)).json.handled).toEqual([])
    } finally {
      await second.stop()
    }
  }, 240_000)
})

describe('packed app: publishing from the Edge runtime (next start)', () => {
  it("an `export const runtime = 'edge'` route publishes over upstash (REST bridge) and the Node-side consumer handles the events", async () => {
    const prefix = `${token}-edge`
    const app = await startApp({
      TIERBUS_TRANSPORT: 'upstash',
      UPSTASH_REDIS_REST_URL: bridge.url,
      UPSTASH_REDIS_REST_TOKEN: bridge.token,
      TIERBUS_REDIS_PREFIX: prefix,
    })
    try {
      const runId = `edge-${Date.now().toString(36)}`
      const published = await call(app, 'POST', '/api/edge-publish', { run: runId, count: 5 })
      expect(published.status, app.output()).toBe(201)
      // `EdgeRuntime` is set only inside the Edge runtime's sandbox: the route really ran there.
      expect(published.json).toMatchObject({ transport: 'upstash', runtime: 'edge-runtime' })
      const handled = await until(async () => {
        const { json } = await call(app, 'GET', `/api/handled?run=${runId}`)
        return (json.handled as number[]).length === 5 ? (json.handled as number[]) : undefined
      }, 'the 5 edge-published events handled by the Node-side consumer')
      expect(handled).toEqual([0, 1, 2, 3, 4])
    } finally {
      await app.stop()
      await deleteRedisKeys(prefix)
    }
  }, 180_000)
})
