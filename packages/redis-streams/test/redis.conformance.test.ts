// The assertions are the shared suite's: runTransportConformance in packages/core/src/testing/conformance.ts.
import { runTransportConformance } from '@tierbus/core/testing'
import { afterAll } from 'vitest'
import { REDIS_CAPABILITIES, type RedisStreamsTransport } from '../src/index.js'
import { adminClient, injectRawEntry, isolatedRedisTransport } from './helpers.js'

const admin = adminClient()
afterAll(() => admin.quit())

runTransportConformance('redis (ioredis)', () => isolatedRedisTransport(admin), {
  capabilities: REDIS_CAPABILITIES,
  injectRaw: (transport, type, raw) => injectRawEntry(admin, transport as RedisStreamsTransport, type, raw),
  injectBytes: (transport, type, bytes) =>
    injectRawEntry(admin, transport as RedisStreamsTransport, type, Buffer.from(bytes)),
})
