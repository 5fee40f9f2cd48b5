import { randomBytes } from 'node:crypto'
import { type Envelope, newEventId, type SubscriptionSpec } from '@tierbus/core'
import { Redis } from 'ioredis'
import { type RedisStreamsTransport, type RedisTransportOptions, redisTransport } from '../src/index.js'

/** The real Redis every test uses (a test fails loudly when it is down). */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/** A fresh key prefix, so tests never see each other's keys. */
export function uniquePrefix(label = 't'): string {
  return `tbtest:${label}:${randomBytes(5).toString('hex')}`
}

/** An admin connection for assertions and cleanup (one per test file; close it in afterAll). */
export function adminClient(): Redis {
  return new Redis(REDIS_URL, { connectionName: 'tierbus-test-admin' })
}

/** Deletes every key under `prefix`. */
export async function deleteKeys(admin: Redis, prefix: string): Promise<number> {
  let cursor = '0'
  let deleted = 0
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) deleted += await admin.del(...keys)
  } while (cursor !== '0')
  return deleted
}

/** Background errors seen by transports made here (tests may assert on them). */
export const backgroundErrors: unknown[] = []

/** A transport on a fresh prefix whose `close()` also deletes its keys. */
export async function isolatedRedisTransport(
  admin: Redis,
  options: Partial<RedisTransportOptions> = {},
): Promise<RedisStreamsTransport> {
  const prefix = options.prefix ?? uniquePrefix()
  const transport = await redisTransport({
    url: REDIS_URL,
    onError: (err) => void backgroundErrors.push(err),
    ...options,
    prefix,
  })
  const close = transport.close.bind(transport)
  transport.close = async () => {
    await close()
    await deleteKeys(admin, prefix)
  }
  return transport
}

/** Writes a stream entry that is not a tierbus envelope (the poison path), registering its type. */
export async function injectRawEntry(
  admin: Redis,
  transport: RedisStreamsTransport,
  type: string,
  raw: string | Buffer,
): Promise<void> {
  await admin.xadd(transport.keys.stream(type), '*', 'payload', raw)
  await admin.sadd(transport.keys.types, type)
}

/** A complete subscription spec for driving the transport directly (as core would), with overrides. */
export function testSpec(overrides: Partial<SubscriptionSpec> = {}): SubscriptionSpec {
  return {
    pattern: 'x.y',
    group: 'g',
    startFrom: 'latest',
    maxInFlight: 16,
    leaseMs: 30_000,
    maxAttempts: 5,
    ordered: false,
    ephemeral: false,
    ...overrides,
  }
}

/** A valid envelope of `type` carrying `data`. */
export function testEnvelope(type: string, data: unknown = {}): Envelope {
  return {
    specversion: '1.0',
    id: newEventId(),
    source: 'redis-streams/test',
    type,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data,
  }
}
