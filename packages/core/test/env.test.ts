import { describe, expect, it } from 'vitest'
import { ConfigError, createBusFromEnv, transportFromEnv } from '@tierbus/core'

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
    expect((err as Error).message).toMatch(/TIERBUS_TRANSPORT.*memory, postgres, pglite, supabase, redis, upstash, sqs, nats/)
  })

  it('rejects malformed numeric settings, naming the variable', async () => {
    await expect(createBusFromEnv({ env: { TIERBUS_SOURCE: 'a', TIERBUS_CONCURRENCY: 'lots' } })).rejects.toThrow(/TIERBUS_CONCURRENCY/)
  })

  it('says which packages to install when the tier package is missing', async () => {
    // A loader that resolves nothing, as when the adapter package is not installed.
    const load = (name: string) => import(`/nonexistent/${name}/index.js`)
    const err = await transportFromEnv({ TIERBUS_TRANSPORT: 'redis' }, load).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toContain('npm install @tierbus/redis-streams ioredis')
  })

  it('requires a source', async () => {
    await expect(createBusFromEnv({ env: {} })).rejects.toThrow(/TIERBUS_SOURCE/)
  })
})
