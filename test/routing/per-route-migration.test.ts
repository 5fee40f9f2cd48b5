// Per-route migration, built from the environment: TIERBUS_ROUTES='coord.>=redis;work.>=postgres->sqs'
// moves work.> from Postgres to SQS through every phase (and a rollback) while coord.> stays on Redis,
// under a live publisher, each phase change written to the shared store as `tierbus migrate advance` does.
import { createBusFromEnv, defineEvent, type Env, type RoutedTransport } from '@tierbus/core'
import { eventually, uniqueToken } from '@tierbus/core/testing'
import { postgresAdapter } from '@tierbus/db-realtime'
import { type MigratingTransport, migrationAdapter, migrationStoreFromEnv, type Phase } from '@tierbus/migrator'
import { redisAdapter } from '@tierbus/redis-streams'
import { sqsAdapter } from '@tierbus/sqs-sns'
import { afterAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { dropSchema } from '../../packages/db-realtime/test/helpers.js'
import { adminClient, deleteKeys } from '../../packages/redis-streams/test/helpers.js'
import { EMULATOR_AWS, startEmulator } from '../../packages/sqs-sns/test/emulator.js'

const DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test'
const admin = adminClient()
const cleanups: Array<() => Promise<unknown>> = []
afterAll(async () => {
  while (cleanups.length)
    await cleanups
      .pop()?.()
      .catch(() => {})
  await admin.quit()
})

const Task = defineEvent('work.nlp.task', z.object({ n: z.number().int() }))
const Stage = defineEvent('coord.wf-1.stage', z.object({ n: z.number().int() }))
/** Every phase, one rollback (cutover -> shadow), then on to the target. */
const WALK: Phase[] = ['dual-write', 'shadow', 'cutover', 'shadow', 'cutover', 'target']
const MIGRATION = 'postgres->sqs'

describe('per-route migration (real Postgres, Redis, SQS emulator)', () => {
  it('moves work.> postgres->sqs, every phase and a rollback, coord.> on redis: none lost, none twice', async () => {
    const emulator = await startEmulator()
    const schema = uniqueToken('tbroute_').toLowerCase()
    const storeSchema = uniqueToken('tbroutemig_').toLowerCase()
    const prefix = uniqueToken('tbtest:route')
    cleanups.push(
      () => emulator.stop(),
      () => dropSchema(schema),
      () => dropSchema(storeSchema),
      () => deleteKeys(admin, prefix),
    )
    const env: Env = {
      TIERBUS_ROUTES: `coord.>=redis;work.>=${MIGRATION}`,
      TIERBUS_SOURCE: 'route-migration',
      DATABASE_URL,
      TIERBUS_DB_SCHEMA: schema,
      REDIS_URL: 'redis://127.0.0.1:6379',
      TIERBUS_REDIS_PREFIX: prefix,
      AWS_REGION: EMULATOR_AWS.region,
      AWS_ENDPOINT_URL: emulator.endpoint,
      AWS_ACCESS_KEY_ID: EMULATOR_AWS.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: EMULATOR_AWS.credentials.secretAccessKey,
      TIERBUS_SQS_PREFIX: uniqueToken('tb'),
      TIERBUS_MIGRATION_STORE: DATABASE_URL,
      TIERBUS_MIGRATION_SCHEMA: storeSchema,
      TIERBUS_MIGRATION_POLL_MS: '100',
    }
    const adapters = [migrationAdapter, postgresAdapter, redisAdapter, sqsAdapter]
    const bus = await createBusFromEnv({ env, adapters, onError: () => {} })
    cleanups.push(() => bus.close({ timeoutMs: 5_000 }))
    const router = bus.transport as RoutedTransport
    const migration = router.transportOf(Task.type) as MigratingTransport
    const coordTier = router.transportOf(Stage.type)
    expect(migration.name).toBe('postgres->sqs')
    expect(coordTier?.name).toBe('redis')
    expect(migration.phase).toBe('source')

    const handled = new Map<string, Map<string, number>>()
    const count = (group: string) => (e: { id: string }) => {
      const ids = handled.get(group) ?? new Map<string, number>()
      ids.set(e.id, (ids.get(e.id) ?? 0) + 1)
      handled.set(group, ids)
    }
    await bus.subscribe(Task, count('workers'), { group: 'workers', concurrency: 16, leaseMs: 3_000 })
    await bus.subscribe(Stage, count('coordinator'), { group: 'coordinator', concurrency: 16 })
    // One group over both routes: Redis and the migrating work route, through one intake.
    await bus.subscribe('>', count('audit'), { group: 'audit', concurrency: 16, leaseMs: 3_000 })

    const published = { work: [] as string[], coord: [] as string[] }
    let publishing = true
    let n = 0
    const publisher = (async () => {
      // A live publisher: ~100 work and ~100 coord events a second until the walk ends.
      while (publishing) {
        for (const e of await bus.publishBatch(
          Task,
          Array.from({ length: 5 }, () => ({ n: n++ })),
        ))
          published.work.push(e.id)
        for (const e of await bus.publishBatch(
          Stage,
          Array.from({ length: 5 }, () => ({ n: n++ })),
        ))
          published.coord.push(e.id)
        await new Promise((r) => setTimeout(r, 50))
      }
    })()

    const store = await migrationStoreFromEnv(env)
    cleanups.push(() => store.close())
    let phase: Phase = 'source'
    for (const to of WALK) {
      const before = published.work.length
      await eventually(() => published.work.length >= before + 50, 'the publisher to keep publishing in this phase', {
        timeoutMs: 30_000,
      })
      // What `tierbus migrate advance` / `rollback` writes; every process following the store switches.
      expect(await store.writePhase(MIGRATION, to, phase)).toBe(true)
      phase = to
      await eventually(() => migration.phase === to, `the work route to follow the store to ${to}`, {
        timeoutMs: 15_000,
      })
    }
    const last = published.work.length
    await eventually(() => published.work.length >= last + 50, 'events published in the target phase', {
      timeoutMs: 30_000,
    })
    publishing = false
    await publisher

    const everything = [...published.work, ...published.coord]
    const expected: Record<string, string[]> = {
      workers: published.work,
      coordinator: published.coord,
      audit: everything,
    }
    await eventually(
      () => Object.entries(expected).every(([g, ids]) => ids.every((id) => handled.get(g)?.has(id))),
      () =>
        Object.entries(expected)
          .map(([g, ids]) => `${g} ${ids.filter((id) => handled.get(g)?.has(id)).length}/${ids.length}`)
          .join(', '),
      { timeoutMs: 60_000, intervalMs: 100 },
    )
    for (const [group, ids] of Object.entries(expected)) {
      const seen = handled.get(group) ?? new Map<string, number>()
      expect(seen.size, `${group}: nothing but what was published`).toBe(ids.length)
      expect(
        [...seen.values()].filter((c) => c > 1),
        `${group}: none twice`,
      ).toEqual([])
    }
    // coord.> never moved: its tier is the same Redis transport, outside the migration.
    expect(router.transportOf(Stage.type)).toBe(coordTier)
    expect(migration.phase).toBe('target')
    console.log(
      `[per-route migration] ${published.work.length} work + ${published.coord.length} coord events, ` +
        `${WALK.length} phase changes`,
    )
  }, 180_000)
})
