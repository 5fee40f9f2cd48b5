import { ConfigError } from '@tierbus/core'
import { memoryDedupStore, nextPhase, parseMigration, parsePhase, previousPhase } from '@tierbus/migrator'
import { describe, expect, it } from 'vitest'

describe('migration phases', () => {
  it('parses TIERBUS_MIGRATION and TIERBUS_MIGRATION_PHASE, rejecting anything else with what to write', () => {
    expect(parseMigration('postgres->redis')).toEqual({ from: 'postgres', to: 'redis' })
    expect(parseMigration(' redis -> sqs ')).toEqual({ from: 'redis', to: 'sqs' })
    expect(() => parseMigration('postgres=>redis')).toThrow(/<from>-><to>/)
    expect(() => parseMigration('redis->redis')).toThrow(ConfigError)
    expect(() => parseMigration('postgres->Kafka!')).toThrow(ConfigError)
    expect(parsePhase('shadow')).toBe('shadow')
    expect(() => parsePhase('halfway')).toThrow(/source, dual-write, shadow, cutover, target/)
  })

  it('advances and rolls back one step at a time, refusing to go past either end', () => {
    expect(nextPhase('source')).toBe('dual-write')
    expect(nextPhase('cutover')).toBe('target')
    expect(previousPhase('cutover')).toBe('shadow')
    expect(() => nextPhase('target')).toThrow(/last phase/)
    expect(() => previousPhase('source')).toThrow(/nothing to roll back/)
  })
})

describe('memory dedup store', () => {
  it('lets one claimant run, makes others wait while it runs, and skips the key once done', async () => {
    let now = 0
    const store = memoryDedupStore(() => now)
    expect(await store.claim('g:1', 1000)).toBe('claimed')
    expect(await store.claim('g:1', 1000)).toBe('processing')
    await store.complete('g:1', 5000)
    expect(await store.claim('g:1', 1000)).toBe('done')
    now = 6000
    expect(await store.claim('g:1', 1000)).toBe('claimed')
  })

  it('frees a released or expired claim', async () => {
    let now = 0
    const store = memoryDedupStore(() => now)
    await store.claim('k', 1000)
    await store.release('k')
    expect(await store.claim('k', 1000)).toBe('claimed')
    now = 1500
    expect(await store.claim('k', 1000)).toBe('claimed')
  })
})

describe('migration adapter', () => {
  it('composes the two tiers from the adapters passed with it, loading nothing by name', async () => {
    const { createBusFromEnv, memoryTransport } = await import('@tierbus/core')
    const { migrationAdapter } = await import('@tierbus/migrator')
    const built: string[] = []
    const tier = (kind: string) => ({
      kind,
      install: kind,
      create: async () => {
        built.push(kind)
        return memoryTransport()
      },
    })
    const load = async (name: string): Promise<never> => {
      throw new Error(`load(${name}) must not be called`)
    }
    const env = { TIERBUS_MIGRATION: 'alpha->beta', TIERBUS_SOURCE: 'app' }
    const bus = await createBusFromEnv({ env, adapters: [migrationAdapter, tier('alpha'), tier('beta')], load })
    expect(built).toEqual(['alpha', 'beta'])
    expect(bus.transport.name).toMatch(/alpha|beta|->|migrat/)
    await bus.close()
    await expect(
      createBusFromEnv({
        env: { ...env, TIERBUS_MIGRATION: 'alpha->gamma' },
        adapters: [migrationAdapter, tier('alpha')],
        load,
      }),
    ).rejects.toThrow(/no adapter for 'gamma'/)
  })
})
