// The option names of the naming guide (docs/adapters.md): upstashTransport takes an app client as `client`,
// and still as the deprecated `redis`.
import { Redis } from '@upstash/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { upstashTransport } from '../src/index.js'
import { adminClient, deleteKeys, REDIS_URL, uniquePrefix } from './helpers.js'
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

describe('upstashTransport option names', () => {
  it('uses an app @upstash/redis client given as client, or as the deprecated redis', async () => {
    const app = new Redis({ url: bridge.url, token: bridge.token, enableTelemetry: false })
    for (const options of [{ client: app }, { redis: app }]) {
      const prefix = uniquePrefix('up')
      const transport = await upstashTransport({ ...options, prefix, onError: () => {} })
      expect(transport.name).toBe('upstash')
      await transport.close()
      await deleteKeys(admin, prefix)
    }
    expect(await app.ping()).toBe('PONG')
  })
})
