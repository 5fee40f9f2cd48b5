import { runTransportConformance } from '@tierbus/core/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REDIS_CAPABILITIES, type RedisStreamsTransport, upstashTransport } from '../src/index.js'
import {
  adminClient,
  backgroundErrors,
  deleteKeys,
  injectRawEntry,
  REDIS_URL,
  testEnvelope,
  uniquePrefix,
} from './helpers.js'
import { startUpstashBridge, type UpstashBridge } from './upstash-bridge.js'

const admin = adminClient()
let bridge: UpstashBridge
beforeAll(async () => {
  bridge = await startUpstashBridge(REDIS_URL)
})
afterAll(async () => {
  await bridge.close()
  await admin.quit()
})

/** An Upstash transport (over HTTP, through the bridge) on a fresh prefix; close() deletes its keys. */
async function isolatedUpstashTransport(): Promise<RedisStreamsTransport> {
  const prefix = uniquePrefix('up')
  const transport = await upstashTransport({
    url: bridge.url,
    token: bridge.token,
    prefix,
    onError: (err) => void backgroundErrors.push(err),
  })
  const close = transport.close.bind(transport)
  transport.close = async () => {
    await close()
    await deleteKeys(admin, prefix)
  }
  return transport
}

runTransportConformance('upstash (@upstash/redis over HTTP)', isolatedUpstashTransport, {
  capabilities: REDIS_CAPABILITIES,
  injectRaw: (transport, type, raw) => injectRawEntry(admin, transport as RedisStreamsTransport, type, raw),
})

describe('upstash transport', () => {
  it('goes over the REST protocol: single commands and pipelines, base64-encoded replies', async () => {
    const before = { ...bridge.requests }
    const t = await isolatedUpstashTransport()
    try {
      expect(t.name).toBe('upstash')
      expect(t.client.protocol).toBe('http')
      const e = testEnvelope('up.check', { text: 'héllo ✓' })
      await t.publish([e, testEnvelope('up.check', { n: 2 })])
      const [first] = await admin.xrange(t.keys.stream('up.check'), '-', '+', 'COUNT', 1)
      expect(JSON.parse(first![1][1]!)).toEqual(e)
      expect((bridge.requests['/pipeline'] ?? 0) - (before['/pipeline'] ?? 0)).toBeGreaterThanOrEqual(1)
      expect((bridge.requests['/'] ?? 0) - (before['/'] ?? 0)).toBeGreaterThanOrEqual(1)
    } finally {
      await t.close()
    }
  })

  it('rejects a wrong token with a TransportError naming the variables to check', async () => {
    const err = await upstashTransport({ url: bridge.url, token: 'wrong', prefix: uniquePrefix('up') }).catch(
      (e: unknown) => e,
    )
    expect((err as Error).message).toMatch(/UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN/)
  })
})
