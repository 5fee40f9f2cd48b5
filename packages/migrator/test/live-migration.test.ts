import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createBus, defineEvent, type Transport } from '@tierbus/core'
import { eventually, uniqueToken } from '@tierbus/core/testing'
import { postgresTransport } from '@tierbus/db-realtime'
import { type MigratingTransport, migratingTransport, type Phase, redisMigrationStore } from '@tierbus/migrator'
import { redisTransport } from '@tierbus/redis-streams'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { type Emulator, isolatedTransport, startEmulator } from '../../sqs-sns/test/emulator.js'

const DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test'
const REDIS_URL = 'redis://127.0.0.1:6379'
/**
 * The load this test applies while walking every phase: publishing paced at up to 500 events/s (seed 004)
 * for 21 s. It asserts what happened to the events, not how fast they went: on a loaded machine the
 * pace may fall behind and nothing must be lost either way (throughput belongs in bench/).
 */
const RATE = 500
const DURATION_MS = 21_000
/** When each phase starts (ms into the run): every phase, and one rollback (cutover -> shadow). */
const WALK: Array<[number, Phase]> = [
  [2_000, 'dual-write'],
  [5_000, 'shadow'],
  [9_000, 'cutover'],
  [11_500, 'shadow'],
  [13_500, 'cutover'],
  [16_500, 'target'],
]

const Task = defineEvent('work.nlp.task', z.object({ n: z.number().int() }))
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
const cleanups: Array<() => Promise<unknown>> = []
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {})
  redis.disconnect()
})

/**
 * Publishes RATE events/s for DURATION_MS through a migrating transport while a consumer group runs and
 * the phases are walked; `during(t)` runs extra steps (killing the relay). Returns the ids published and
 * how many times each was handled.
 */
async function migrateUnderLoad(
  transport: MigratingTransport,
  during: (elapsedMs: number) => Promise<void> = async () => {},
) {
  const bus = createBus({ transport, source: 'live-migration', onError: () => {} })
  cleanups.push(() => bus.close({ timeoutMs: 2_000 }))
  const handled = new Map<string, number>()
  await bus.subscribe(Task, (e) => void handled.set(e.id, (handled.get(e.id) ?? 0) + 1), {
    group: 'agents',
    concurrency: 32,
    leaseMs: 3_000,
  })
  const published: string[] = []
  const started = Date.now()
  const walk = [...WALK]
  let n = 0
  for (let tick = 0; ; tick++) {
    const elapsed = Date.now() - started
    if (elapsed >= DURATION_MS) break
    while (walk.length && walk[0]![0] <= elapsed) await transport.setPhase(walk.shift()![1])
    await during(elapsed)
    const due = Math.floor(((tick + 1) * 50 * RATE) / 1000)
    const batch = Array.from({ length: due - n }, () => ({ n: n++ }))
    for (const e of await bus.publishBatch(Task, batch)) published.push(e.id)
    const next = started + (tick + 1) * 50
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())))
  }
  expect(transport.phase).toBe('target')
  await eventually(
    () => published.every((id) => handled.has(id)),
    () =>
      `every published event handled: ${published.filter((id) => !handled.has(id)).length} of ${published.length} missing`,
    { timeoutMs: 60_000, intervalMs: 100 },
  )
  return { published, handled }
}

describe('live migration under load (real services)', () => {
  it('postgres -> redis through the outbox under continuous load, every phase, a rollback and a killed relay: none lost, none twice', async () => {
    const schema = uniqueToken('tblive_')
    const prefix = uniqueToken('tbtest:live')
    const source = await postgresTransport({ url: DATABASE_URL, schema, poolSize: 6, onError: () => {} })
    const target = await redisTransport({ url: REDIS_URL, prefix, onError: () => {} })
    cleanups.push(async () => {
      const pool = new pg.Pool({ connectionString: DATABASE_URL })
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await pool.end()
      const keys = await redis.keys(`${prefix}*`)
      if (keys.length) await redis.del(...keys)
    })
    const store = redisMigrationStore(redis, { prefix: `${prefix}:mig` })
    const transport = migratingTransport({
      source,
      target,
      phase: 'source',
      dedup: store,
      outbox: 'external',
      onError: () => {},
    })
    const script = fileURLToPath(new URL('./fixtures/relay.ts', import.meta.url))
    const startRelay = async (): Promise<ChildProcess> => {
      const child = spawn(process.execPath, ['--conditions=tierbus-source', '--import', 'tsx', script], {
        env: { ...process.env, DATABASE_URL, SCHEMA: schema, REDIS_URL, REDIS_PREFIX: prefix },
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      cleanups.push(async () => void child.kill('SIGKILL'))
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve())
        child.on('exit', (code) => reject(new Error(`relay exited with ${code}`)))
      })
      return child
    }
    let relay = await startRelay()
    let killed = false
    let restarted = false
    const { published, handled } = await migrateUnderLoad(transport, async (t) => {
      if (!killed && t >= 7_000) {
        killed = true
        relay.kill('SIGKILL')
      }
      if (killed && !restarted && t >= 8_000) {
        restarted = true
        relay = await startRelay()
      }
    })
    expect(restarted).toBe(true)
    expect([...handled.values()].filter((c) => c > 1)).toEqual([])
    expect(handled.size).toBe(published.length)
    const stats = transport.stats()
    expect(stats.duplicatesSkipped + stats.duplicatesDeferred).toBeGreaterThan(0)
    await transport.close()
  }, 120_000)

  it('redis -> sqs with inline dual-write under continuous load, every phase and a rollback: none lost, none twice', async () => {
    const emulator: Emulator = await startEmulator()
    cleanups.push(() => emulator.stop())
    const prefix = uniqueToken('tbtest:live')
    const source = await redisTransport({ url: REDIS_URL, prefix, onError: () => {} })
    const target: Transport = await isolatedTransport(emulator.endpoint)
    cleanups.push(async () => {
      const keys = await redis.keys(`${prefix}*`)
      if (keys.length) await redis.del(...keys)
    })
    const store = redisMigrationStore(redis, { prefix: `${prefix}:mig` })
    const transport = migratingTransport({ source, target, phase: 'source', dedup: store, onError: () => {} })
    const { published, handled } = await migrateUnderLoad(transport)
    expect([...handled.values()].filter((c) => c > 1)).toEqual([])
    expect(handled.size).toBe(published.length)
    expect(transport.stats().secondaryWriteFailures).toBe(0)
    await transport.close()
  }, 120_000)
})
