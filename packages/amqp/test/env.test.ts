import { ConfigError, createBusFromEnv } from '@tierbus/core'
import { uniqueToken } from '@tierbus/core/testing'
import { describe, expect, it } from 'vitest'
import { type AmqpTransport, amqpAdapter, transportFromEnv } from '../src/index.js'
import { AMQP_URL } from './helpers.js'

describe('transportFromEnv (amqp)', () => {
  it('requires AMQP_URL and says so', async () => {
    const err = await transportFromEnv('amqp', {}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toContain('AMQP_URL')
  })

  it('names the invalid variable, without quoting its value', async () => {
    await expect(transportFromEnv('amqp', { AMQP_URL, TIERBUS_AMQP_PREFIX: 'a.>' })).rejects.toThrow(
      /TIERBUS_AMQP_PREFIX/,
    )
    const err = await transportFromEnv('amqp', { AMQP_URL: 'http://user:s3cret@x' }).catch((e: unknown) => e)
    expect((err as Error).message).toMatch(/AMQP_URL is invalid/)
    expect((err as Error).message).not.toContain('s3cret')
  })

  it('builds the transport for TIERBUS_TRANSPORT=amqp through createBusFromEnv({ adapters })', async () => {
    const prefix = uniqueToken('tb')
    const bus = await createBusFromEnv({
      env: { TIERBUS_TRANSPORT: 'amqp', AMQP_URL, TIERBUS_AMQP_PREFIX: prefix, TIERBUS_SOURCE: 'env-test' },
      adapters: [amqpAdapter],
    })
    const t = bus.transport as AmqpTransport
    expect(t.name).toBe('amqp')
    expect(t.names.exchange).toBe(`${prefix}.events`)
    // Made from env, the topology is a production one (kept on close): this test removes its exchanges.
    const ch = await t.connection!.createChannel()
    await ch.deleteExchange(t.names.exchange)
    await ch.deleteExchange(t.names.waitExchange)
    await ch.close()
    await bus.close()
  })
})
