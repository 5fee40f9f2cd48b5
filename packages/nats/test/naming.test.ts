// The option names of the naming guide (docs/adapters.md): url or servers, and an app-owned client.
import { ConfigError } from '@tierbus/core'
import { uniqueToken } from '@tierbus/core/testing'
import { connect } from 'nats'
import { describe, expect, it } from 'vitest'
import { natsTransport } from '../src/index.js'
import { isolatedTransport, NATS_URL } from './helpers.js'

describe('natsTransport option names', () => {
  it('connects with url, and with servers (one URL or a list)', async () => {
    for (const options of [{ url: NATS_URL }, { servers: NATS_URL }, { servers: [NATS_URL] }]) {
      const token = uniqueToken('tb')
      const transport = await natsTransport({
        ...options,
        prefix: token,
        stream: token.toUpperCase(),
        deleteStreamsOnClose: true,
      })
      expect(transport.connection.isClosed()).toBe(false)
      await transport.close()
    }
  })

  it("turns off the client's per-request stack capture by default; connection options can turn it back on", async () => {
    // nats.js builds an Error per request (JetStream publishes included) unless noAsyncTraces is set.
    const tracesOff = (t: { connection: unknown }) =>
      (t.connection as { options: { noAsyncTraces?: boolean } }).options.noAsyncTraces
    const quiet = await isolatedTransport()
    const traced = await isolatedTransport({ connection: { noAsyncTraces: false } })
    try {
      expect(tracesOff(quiet)).toBe(true)
      expect(tracesOff(traced)).toBe(false)
    } finally {
      await quiet.close()
      await traced.close()
    }
  })

  it('rejects url and servers together with a ConfigError', async () => {
    await expect(natsTransport({ url: NATS_URL, servers: NATS_URL })).rejects.toThrow(ConfigError)
  })

  it('uses an app connection given as client and leaves it open on close', async () => {
    const nc = await connect({ servers: NATS_URL })
    try {
      const transport = await isolatedTransport({ client: nc })
      expect(transport.connection).toBe(nc)
      await transport.close()
      expect(nc.isClosed()).toBe(false)
      await nc.flush()
    } finally {
      await nc.close()
    }
  })
})
