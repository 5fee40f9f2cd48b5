import { createBus, defineEvent, memoryTransport } from '@tierbus/core'
import { eventually, uniqueToken } from '@tierbus/core/testing'
import {
  type MigrationStore,
  memoryMigrationStore,
  migratingTransport,
  migrationStoreFromEnv,
  migrationTransportFromEnv,
  postgresMigrationStore,
  redisMigrationStore,
} from '@tierbus/migrator'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { PG_URL, REDIS_URL, storeBackends } from './store-backends.js'

const { redis, pool, schemas, prefixes } = storeBackends(4)

const stores: Array<[string, () => Promise<MigrationStore>]> = [
  ['memory', async () => memoryMigrationStore()],
  [
    'redis',
    async () => {
      const prefix = uniqueToken('tbtest:mig')
      prefixes.push(prefix)
      return redisMigrationStore(redis, { prefix })
    },
  ],
  [
    'postgres',
    async () => {
      const schema = uniqueToken('tbmig_')
      schemas.push(schema)
      return postgresMigrationStore(pool, { schema })
    },
  ],
]

describe.each(stores)('%s migration store (real service)', (_name, make) => {
  it('lets one claimant run, makes others wait while it runs, and skips the key once done', async () => {
    const store = await make()
    expect(await store.claim('g/e1', 5_000)).toBe('claimed')
    expect(await store.claim('g/e1', 5_000)).toBe('processing')
    await store.complete('g/e1', 60_000)
    expect(await store.claim('g/e1', 5_000)).toBe('done')
  })

  it('lets a holder claim its own key again while others wait, and reopens a dead letter only to the tier that wrote it', async () => {
    const store = await make()
    expect(await store.claim('g/e2', 5_000, 'target')).toBe('claimed')
    expect(await store.claim('g/e2', 5_000, 'source')).toBe('processing')
    // The target's own redelivery (a retry) of the event it holds.
    expect(await store.claim('g/e2', 5_000, 'target')).toBe('claimed')
    await store.release('g/e2')
    expect(await store.claim('g/e2', 5_000, 'source')).toBe('claimed')
    // Dead-lettered on the source: the target's copy is skipped, the source's redriven copy runs.
    await store.complete('g/e2', 60_000, 'source')
    expect(await store.claim('g/e2', 5_000, 'target')).toBe('done')
    expect(await store.claim('g/e2', 5_000, 'source')).toBe('claimed')
    await store.complete('g/e2', 60_000)
    expect(await store.claim('g/e2', 5_000, 'source')).toBe('done')
  })

  it('gives exactly one of 20 concurrent claimants the claim', async () => {
    const store = await make()
    const results = await Promise.all(Array.from({ length: 20 }, () => store.claim('g/race', 5_000)))
    expect(results.filter((r) => r === 'claimed')).toHaveLength(1)
  })

  it('frees a released claim and an expired lease', async () => {
    const store = await make()
    await store.claim('k1', 5_000)
    await store.release('k1')
    expect(await store.claim('k1', 5_000)).toBe('claimed')
    await store.claim('k2', 50)
    await eventually(async () => (await store.claim('k2', 5_000)) === 'claimed', 'the lease to expire')
  })

  it('records the phase and its history', async () => {
    const store = await make()
    expect(await store.readPhase('postgres->redis')).toBeUndefined()
    expect(await store.writePhase('postgres->redis', 'dual-write', undefined)).toBe(true)
    expect(await store.writePhase('postgres->redis', 'shadow', 'dual-write')).toBe(true)
    expect(await store.readPhase('postgres->redis')).toBe('shadow')
    expect((await store.history('postgres->redis')).map((h) => h.phase)).toEqual(['dual-write', 'shadow'])
  })
})

describe('live phase control', () => {
  it('switches every process that shares the store when the phase changes there', async () => {
    const prefix = uniqueToken('tbtest:mig')
    prefixes.push(prefix)
    const store = redisMigrationStore(redis, { prefix })
    const source = memoryTransport()
    const target = memoryTransport()
    const control = { store, migration: 'memory->redis', pollMs: 20 }
    await store.writePhase(control.migration, 'dual-write', undefined)
    const a = migratingTransport({ source, target, phase: 'dual-write', dedup: store, control })
    const b = migratingTransport({ source, target, phase: 'dual-write', dedup: store, control })
    await store.writePhase(control.migration, 'shadow', 'dual-write')
    await eventually(() => a.phase === 'shadow' && b.phase === 'shadow', 'both processes to follow the store')
    const E = defineEvent('ctl.e', z.object({}))
    const bus = createBus({ transport: a, source: 'ctl', closeTransport: false })
    let handled = 0
    await bus.subscribe(E, () => void handled++, { group: 'g' })
    await bus.publish(E, {})
    await eventually(
      () => handled === 1 && (a.shadowReport().g?.matched ?? 0) === 1,
      'the event handled on the source and shadow-matched on the target',
    )
    await bus.close()
    await a.close()
    await b.close()
  })
})

describe('env wiring', () => {
  it('builds stores from TIERBUS_MIGRATION_STORE URLs and refuses a memory store in production', async () => {
    const r = await migrationStoreFromEnv({ TIERBUS_MIGRATION_STORE: REDIS_URL })
    await r.close()
    const schema = uniqueToken('tbmig_')
    schemas.push(schema)
    const p = await migrationStoreFromEnv({ TIERBUS_MIGRATION_STORE: PG_URL, TIERBUS_MIGRATION_SCHEMA: schema })
    await p.writePhase('x->y', 'cutover', undefined)
    expect(await p.readPhase('x->y')).toBe('cutover')
    await p.close()
    await expect(migrationStoreFromEnv({ NODE_ENV: 'production' })).rejects.toThrow(
      /TIERBUS_MIGRATION_STORE is not set/,
    )
    await expect(migrationStoreFromEnv({ TIERBUS_MIGRATION_STORE: 'mysql://x' })).rejects.toThrow(
      /redis:\/\/…, postgres:\/\/… or memory/,
    )
  })

  it('refuses a TIERBUS_TRANSPORT that contradicts TIERBUS_MIGRATION', async () => {
    await expect(
      migrationTransportFromEnv({ TIERBUS_MIGRATION: 'postgres->redis', TIERBUS_TRANSPORT: 'sqs' }),
    ).rejects.toThrow(/conflicts with TIERBUS_MIGRATION/)
  })
})
