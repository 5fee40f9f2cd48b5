import { memoryTransport, ValidationError } from '@tierbus/core'
import { eventually, uniqueToken } from '@tierbus/core/testing'
import {
  type MigrationStore,
  memoryMigrationStore,
  migratingTransport,
  type Phase,
  postgresMigrationStore,
  redisMigrationStore,
} from '@tierbus/migrator'
import { afterEach, describe, expect, it } from 'vitest'
import { storeBackends } from './store-backends.js'

const { redis, pool, schemas, prefixes } = storeBackends(8)

const closing: Array<() => Promise<void>> = []
afterEach(async () => {
  while (closing.length) await closing.pop()!()
})

const MIGRATION = 'memory->memory'

/** A running migrating transport at `source`, following `store` every 10 ms, with what it reports to onError and how often it read. */
async function followerAtSource(store: MigrationStore) {
  await store.writePhase(MIGRATION, 'source', undefined)
  const errors: Array<{ err: unknown; context: string }> = []
  const polls = { count: 0 }
  const counted: MigrationStore = {
    ...store,
    readPhase: (m) => {
      polls.count++
      return store.readPhase(m)
    },
  }
  const t = migratingTransport({
    source: memoryTransport(),
    target: memoryTransport(),
    phase: 'source',
    dedup: store,
    control: { store: counted, migration: MIGRATION, pollMs: 10 },
    onError: (err, context) => void errors.push({ err, context }),
  })
  closing.push(() => t.close())
  return { t, errors, polls }
}

/** A store on a real service, and the raw write an operator (or attacker) could make around tierbus. */
interface Subject {
  store: MigrationStore
  rawSet(migration: string, phase: string): Promise<void>
}

const subjects: Array<[string, () => Promise<Subject>]> = [
  [
    'redis',
    async () => {
      const prefix = uniqueToken('tbtest:guard')
      prefixes.push(prefix)
      return {
        store: redisMigrationStore(redis, { prefix }),
        rawSet: async (m, phase) => void (await redis.set(`${prefix}:phase:${m}`, phase)),
      }
    },
  ],
  [
    'postgres',
    async () => {
      const schema = uniqueToken('tbguard_')
      schemas.push(schema)
      return {
        store: await postgresMigrationStore(pool, { schema }),
        rawSet: async (m, phase) =>
          void (await pool.query(`UPDATE "${schema}".migration_state SET phase = $2 WHERE migration = $1`, [m, phase])),
      }
    },
  ],
]

describe.each(subjects)('%s phase store (real service)', (_name, make) => {
  it('keeps a running migrating transport in its phase when the phase key is SET from source to target, and reports the refusal', async () => {
    const { store, rawSet } = await make()
    const { t, errors, polls } = await followerAtSource(store)
    await rawSet(MIGRATION, 'target')
    await eventually(() => errors.length > 0, 'the refusal to be reported')
    expect(errors[0]!.err).toBeInstanceOf(ValidationError)
    expect(errors[0]!.context).toBe('following the migration phase')
    expect((errors[0]!.err as Error).message).toMatch(/refusing phase target.*keeping source/)
    // Several more polls later, it is still in its phase and reported once.
    const seen = polls.count
    await eventually(() => polls.count >= seen + 10, 'ten more polls')
    expect(t.phase).toBe('source')
    expect(errors).toHaveLength(1)
    expect((await store.history(MIGRATION)).map((h) => h.phase)).toEqual(['source'])
  })

  it('refuses a SET to an adjacent phase too when the history does not record it, but follows recorded steps it missed', async () => {
    const { store, rawSet } = await make()
    const { t, errors } = await followerAtSource(store)
    await rawSet(MIGRATION, 'dual-write')
    await eventually(() => errors.length === 1, 'the refusal of the unrecorded phase')
    expect(t.phase).toBe('source')
    await rawSet(MIGRATION, 'source')
    // Two recorded steps between two polls: the process follows the path to shadow.
    expect(await store.writePhase(MIGRATION, 'dual-write', 'source')).toBe(true)
    expect(await store.writePhase(MIGRATION, 'shadow', 'dual-write')).toBe(true)
    await eventually(() => t.phase === 'shadow', 'the process to follow the recorded steps')
    expect(errors).toHaveLength(1)
  })

  it('refuses a phase key SET to something that is not a phase, keeping its own', async () => {
    const { store, rawSet } = await make()
    const { t, errors } = await followerAtSource(store)
    await rawSet(MIGRATION, 'yolo')
    await eventually(() => errors.length > 0, 'the refusal')
    expect(errors[0]!.err).toBeInstanceOf(ValidationError)
    expect((errors[0]!.err as Error).message).toMatch(/holds phase "yolo", which is not one of/)
    expect(t.phase).toBe('source')
  })

  it('lets exactly one of concurrent advances from the same phase win, with one history entry', async () => {
    const { store } = await make()
    const migration = 'postgres->redis'
    const seeds = await Promise.all(Array.from({ length: 8 }, () => store.writePhase(migration, 'source', undefined)))
    expect(seeds.filter(Boolean)).toHaveLength(1)
    const advances = await Promise.all(
      Array.from({ length: 8 }, () => store.writePhase(migration, 'dual-write', 'source')),
    )
    expect(advances.filter(Boolean)).toHaveLength(1)
    expect(await store.readPhase(migration)).toBe('dual-write')
    expect((await store.history(migration)).map((h) => h.phase)).toEqual(['source', 'dual-write'])
  })

  it('refuses a write that skips phases with a ValidationError, and writes nothing', async () => {
    const { store } = await make()
    const migration = 'postgres->redis'
    await store.writePhase(migration, 'source', undefined)
    for (const [to, from] of [
      ['target', 'source'],
      ['cutover', 'source'],
      ['source', 'source'],
    ] as Array<[Phase, Phase]>) {
      await expect(store.writePhase(migration, to, from)).rejects.toThrow(ValidationError)
    }
    expect(await store.writePhase(migration, 'dual-write', 'shadow')).toBe(false)
    expect(await store.readPhase(migration)).toBe('source')
    expect((await store.history(migration)).map((h) => h.phase)).toEqual(['source'])
  })
})

describe('memory phase store', () => {
  it('applies the same compare-and-set and step rules', async () => {
    const store = memoryMigrationStore()
    expect(await store.writePhase('m', 'shadow', undefined)).toBe(true)
    expect(await store.writePhase('m', 'shadow', 'dual-write')).toBe(false)
    await expect(store.writePhase('m', 'source', 'shadow')).rejects.toThrow(ValidationError)
    expect(await store.writePhase('m', 'dual-write', 'shadow')).toBe(true)
    expect((await store.history('m')).map((h) => h.phase)).toEqual(['shadow', 'dual-write'])
  })
})
