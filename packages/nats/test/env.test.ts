import { ConfigError, createBusFromEnv } from '@tierbus/core'
import { uniqueToken } from '@tierbus/core/testing'
import { describe, expect, it } from 'vitest'
import { type NatsTransport, transportFromEnv } from '../src/index.js'
import { NATS_URL } from './helpers.js'

describe('transportFromEnv (nats)', () => {
  it('requires NATS_URL and says so', async () => {
    const err = await transportFromEnv('nats', {}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toContain('NATS_URL')
  })

  it('names the invalid variable', async () => {
    await expect(transportFromEnv('nats', { NATS_URL, TIERBUS_NATS_PREFIX: 'a.>' })).rejects.toThrow(
      /TIERBUS_NATS_PREFIX/,
    )
    await expect(transportFromEnv('nats', { NATS_URL: 'http://x' })).rejects.toThrow(/NATS_URL/)
  })

  it('builds a transport on the given prefix and stream, through createBusFromEnv', async () => {
    const prefix = uniqueToken('tb')
    const stream = prefix.toUpperCase()
    const bus = await createBusFromEnv({
      env: {
        TIERBUS_TRANSPORT: 'nats',
        NATS_URL,
        TIERBUS_NATS_PREFIX: prefix,
        TIERBUS_NATS_STREAM: stream,
        TIERBUS_SOURCE: 'env-test',
      },
      load: () => import('../src/index.js'),
    })
    const t = bus.transport as NatsTransport
    expect(t.subjects.prefix).toBe(prefix)
    expect(t.streams[0]).toBe(stream)
    await bus.close()
    // Streams made from env are production streams: closing keeps them; this test removes its own.
    const { connect } = await import('nats')
    const nc = await connect({ servers: NATS_URL })
    const m = await nc.jetstreamManager()
    for (const s of t.streams) await m.streams.delete(s)
    await nc.close()
  })
})
