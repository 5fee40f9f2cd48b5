import { ConfigError, createBusFromEnv, memoryTransport, type TierAdapter, transportFromEnv } from '@tierbus/core'
import { redisAdapter } from '@tierbus/redis-streams'
import { describe, expect, it } from 'vitest'

describe('createBusFromEnv', () => {
  it('builds a memory bus by default outside production', async () => {
    const bus = await createBusFromEnv({ env: { TIERBUS_SOURCE: 'app', TIERBUS_CONCURRENCY: '4' } })
    expect(bus.transport.name).toBe('memory')
    expect(bus.source).toBe('app')
    await bus.close()
  })

  it('refuses to guess the tier in production', async () => {
    await expect(transportFromEnv({ NODE_ENV: 'production' })).rejects.toThrow(/TIERBUS_TRANSPORT is not set/)
  })

  it('rejects an unknown transport, listing the valid ones', async () => {
    const err = await transportFromEnv({ TIERBUS_TRANSPORT: 'kafka' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toMatch(
      /TIERBUS_TRANSPORT.*memory, postgres, pglite, supabase, redis, upstash, sqs, nats, amqp/,
    )
  })

  it('rejects malformed numeric settings, naming the variable', async () => {
    await expect(createBusFromEnv({ env: { TIERBUS_SOURCE: 'a', TIERBUS_CONCURRENCY: 'lots' } })).rejects.toThrow(
      /TIERBUS_CONCURRENCY/,
    )
  })

  it('says which packages to install when the tier package is missing', async () => {
    // A loader that resolves nothing, as when the adapter package is not installed.
    const load = (name: string) => import(`/nonexistent/${name}/index.js`)
    const err = await transportFromEnv({ TIERBUS_TRANSPORT: 'redis' }, load).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toContain('npm install @tierbus/redis-streams ioredis')
    // The real cause under a bundler, and the bundler-safe fix.
    expect((err as Error).message).toMatch(/bundler/)
    expect((err as Error).message).toContain("import { redisAdapter } from '@tierbus/redis-streams'")
  })

  it('builds a tier from a statically passed adapter without loading anything by name', async () => {
    const load = async (name: string): Promise<never> => {
      throw new Error(`load(${name}) must not be called`)
    }
    const transport = await transportFromEnv(
      { TIERBUS_TRANSPORT: 'redis', REDIS_URL: 'redis://127.0.0.1:6379', TIERBUS_REDIS_PREFIX: 'env-test' },
      { adapters: [redisAdapter], load },
    )
    expect(transport.name).toBe('redis')
    await transport.close()
  })

  it('plugs in a third-party tier the same way', async () => {
    const created: string[] = []
    const acme: TierAdapter = {
      kind: 'acme',
      install: 'acme-tierbus',
      async create(env) {
        created.push(env.ACME_URL ?? '')
        return memoryTransport()
      },
    }
    const bus = await createBusFromEnv({
      env: { TIERBUS_TRANSPORT: 'acme', ACME_URL: 'acme://x', TIERBUS_SOURCE: 'app' },
      adapters: [acme],
    })
    expect(created).toEqual(['acme://x'])
    await bus.close()
    const err = await transportFromEnv({ TIERBUS_TRANSPORT: 'acme' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toMatch(/no adapter for 'acme' was passed to createBusFromEnv\(\{ adapters \}\)/)
  })

  it('refuses an adapter that is not a descriptor', async () => {
    await expect(
      transportFromEnv({}, { adapters: [{ kind: 'Bad Kind', create: () => null } as unknown as TierAdapter] }),
    ).rejects.toThrow(ConfigError)
  })

  it('never echoes a variable value in its error (it may be a secret)', async () => {
    const err = await createBusFromEnv({ env: { TIERBUS_SOURCE: 'a', TIERBUS_CONCURRENCY: 'hunter2-secret' } }).catch(
      (e: unknown) => e,
    )
    expect((err as Error).message).toMatch(/TIERBUS_CONCURRENCY/)
    expect((err as Error).message).not.toContain('hunter2')
  })

  it('requires a source', async () => {
    await expect(createBusFromEnv({ env: {} })).rejects.toThrow(/TIERBUS_SOURCE/)
  })
})
