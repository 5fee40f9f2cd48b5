// Big events on every tier: a 10 MiB event published and consumed through claimCheckTransport, the body in
// a payload store (memory, the db tier's own table, Redis, S3 on the fauxqs emulator), the message a small
// reference. Every tier's own limit is 1 MiB or less; the handler sees the whole event.
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { PGlite } from '@electric-sql/pglite'
import {
  claimCheckTransport,
  createBus,
  defineEvent,
  memoryPayloadStore,
  memoryTransport,
  type PayloadStore,
  type Transport,
} from '@tierbus/core'
import { eventually, uniqueToken } from '@tierbus/core/testing'
import { pgliteTransport } from '@tierbus/db-realtime'
import { type RedisStreamsTransport, redisPayloadStore } from '@tierbus/redis-streams'
import { s3PayloadStore } from '@tierbus/sqs-sns/s3'
import { afterAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { freshPostgresTransport, freshSchema } from '../../packages/db-realtime/test/helpers.js'
import { isolatedTransport as isolatedNatsTransport } from '../../packages/nats/test/helpers.js'
import { IORedisStreamClient } from '../../packages/redis-streams/src/ioredis.js'
import { adminClient, deleteKeys, isolatedRedisTransport } from '../../packages/redis-streams/test/helpers.js'
import {
  EMULATOR_AWS,
  isolatedTransport as isolatedSqsTransport,
  startEmulator,
} from '../../packages/sqs-sns/test/emulator.js'

const admin = adminClient()
const cleanups: Array<() => Promise<unknown>> = []
afterAll(async () => {
  while (cleanups.length)
    await cleanups
      .pop()?.()
      .catch(() => {})
  await admin.quit()
})

const TEN_MIB = 10 * 1024 * 1024
/** 10 MiB of a repeating 16-character pattern: a truncated or shifted body would not compare equal. */
const BODY = '0123456789abcdef'.repeat(TEN_MIB / 16)
const Blob = defineEvent('media.transcript.ready', z.object({ name: z.string(), text: z.string() }))

/** Counts what goes into the store, so the test sees the body took the claim-check path. */
function counted(store: PayloadStore): PayloadStore & { puts: number } {
  const c = {
    kind: store.kind,
    puts: 0,
    put: async (id: string, body: string) => {
      c.puts++
      await store.put(id, body)
    },
    get: (id: string) => store.get(id),
  }
  return c
}

type Tier = () => Promise<{ transport: Transport; store: PayloadStore; thresholdBytes?: number }>

const redisStoreOver = (client: IORedisStreamClient, prefix: string) =>
  redisPayloadStore({ client, prefix, retentionMs: 600_000 })

const tiers: Record<string, Tier> = {
  async memory() {
    // Memory has no size limit: a threshold makes it offload (as an app keeping big bodies off a tier would).
    return { transport: memoryTransport(), store: memoryPayloadStore(), thresholdBytes: 256 * 1024 }
  },
  async postgres() {
    const transport = await freshPostgresTransport()
    return { transport, store: transport.payloadStore({ retentionMs: 600_000 }) }
  },
  async pglite() {
    const db = await PGlite.create()
    cleanups.push(() => db.close())
    const transport = await pgliteTransport({ client: db, schema: freshSchema(), onError: () => {} })
    return { transport, store: transport.payloadStore() }
  },
  async redis() {
    const transport: RedisStreamsTransport = await isolatedRedisTransport(admin)
    return { transport, store: redisStoreOver(transport.client as IORedisStreamClient, transport.keys.prefix) }
  },
  async sqs() {
    const emulator = await startEmulator()
    cleanups.push(() => emulator.stop())
    const s3 = new S3Client({ ...EMULATOR_AWS, endpoint: emulator.endpoint, forcePathStyle: true })
    cleanups.push(async () => s3.destroy())
    const bucket = uniqueToken('tb-payloads-').toLowerCase()
    await s3.send(new CreateBucketCommand({ Bucket: bucket }))
    return { transport: await isolatedSqsTransport(emulator.endpoint), store: s3PayloadStore({ client: s3, bucket }) }
  },
  async nats() {
    // Any store serves any tier: NATS keeps its bodies in Redis here.
    const prefix = uniqueToken('tbtest:payloads')
    cleanups.push(() => deleteKeys(admin, prefix))
    return {
      transport: await isolatedNatsTransport(),
      store: redisStoreOver(new IORedisStreamClient(admin, false), prefix),
    }
  },
}

describe('claim-check: 10 MiB events on every tier', () => {
  for (const [name, tier] of Object.entries(tiers)) {
    it(`publishes and consumes a 10 MiB event on ${name}`, async () => {
      const { transport: inner, store, thresholdBytes } = await tier()
      const tracked = counted(store)
      const transport = claimCheckTransport(inner, { store: tracked, ...(thresholdBytes ? { thresholdBytes } : {}) })
      const bus = createBus({ transport, source: 'claim-check/test', onError: () => {} })
      cleanups.push(() => bus.close({ timeoutMs: 5_000 }))
      // The tier (or the threshold) could not carry the event itself.
      expect(Math.min(inner.capabilities.maxPayloadBytes, thresholdBytes ?? Number.POSITIVE_INFINITY)).toBeLessThan(
        TEN_MIB,
      )
      const got: string[] = []
      await bus.subscribe(Blob, (e) => void got.push(e.data.text), { group: 'transcribers' })
      const sent = await bus.publish(Blob, { name: 'episode-1', text: BODY })
      await eventually(() => got.length === 1, `the 10 MiB event on ${name}`, { timeoutMs: 60_000 })
      expect(got[0]?.length).toBe(BODY.length)
      expect(got[0] === BODY).toBe(true)
      expect(tracked.puts).toBe(1)
      expect(sent.data.text.length).toBe(TEN_MIB)
    }, 120_000)
  }
})
