import { ConfigError, createBus, type Delivery, encodeEnvelope, TransportError } from '@tierbus/core'
import { eventually, quietPeriod } from '@tierbus/core/testing'
import { Redis } from 'ioredis'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { type RedisStreamsTransport, redisTransport, transportFromEnv } from '../src/index.js'
import { IORedisStreamClient } from '../src/ioredis.js'
import { resolveOptions } from '../src/options.js'
import { RetentionTrimmer } from '../src/retention.js'
import { newStats } from '../src/stats.js'
import {
  adminClient,
  deleteKeys,
  isolatedRedisTransport,
  REDIS_URL,
  testEnvelope,
  testSpec,
  uniquePrefix,
} from './helpers.js'

const admin = adminClient()
afterAll(() => admin.quit())
const open: RedisStreamsTransport[] = []
afterEach(async () => {
  while (open.length) await open.pop()!.close()
})

async function transport(options: Parameters<typeof isolatedRedisTransport>[1] = {}): Promise<RedisStreamsTransport> {
  const t = await isolatedRedisTransport(admin, options)
  open.push(t)
  return t
}

/** Subscribes and collects every delivery, leaving settling to the test. */
async function collect(t: RedisStreamsTransport, spec = testSpec()) {
  const got: Delivery[] = []
  const sub = await t.subscribe(spec, async (batch) => void got.push(...batch))
  return { got, sub }
}

describe('publishing', () => {
  it('writes each event to the stream of its type, the envelope JSON in one field, and registers the types', async () => {
    const t = await transport()
    const a1 = testEnvelope('orders.placed', { n: 1 })
    const a2 = testEnvelope('orders.placed', { n: 2 })
    const b1 = testEnvelope('orders.shipped', { n: 3 })
    await t.publish([a1, a2, b1])
    const placed = await admin.xrange(t.keys.stream('orders.placed'), '-', '+')
    expect(placed.map(([, fields]) => fields)).toEqual([
      ['payload', encodeEnvelope(a1)],
      ['payload', encodeEnvelope(a2)],
    ])
    expect(await admin.xlen(t.keys.stream('orders.shipped'))).toBe(1)
    expect((await admin.smembers(t.keys.types)).sort()).toEqual(['orders.placed', 'orders.shipped'])
  })

  it('rejects an invalid key prefix with a ConfigError naming the setting', async () => {
    const err = await redisTransport({ url: REDIS_URL, prefix: 'has space*' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toContain('TIERBUS_REDIS_PREFIX')
  })

  it('fails fast with a TransportError saying what to check when Redis is unreachable', async () => {
    const err = await redisTransport({
      url: 'redis://127.0.0.1:1',
      clientOptions: { retryStrategy: () => null },
      onError: () => {},
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TransportError)
    expect((err as Error).message).toMatch(/cannot connect to Redis at redis:\/\/127\.0\.0\.1:1.*REDIS_URL/)
  })
})

describe('retention', () => {
  const publishN = async (t: RedisStreamsTransport, type: string, n: number) => {
    for (let i = 0; i < n; i += 100)
      await t.publish(Array.from({ length: Math.min(100, n - i) }, (_, k) => testEnvelope(type, { n: i + k })))
  }

  it('trims each stream to retention.maxLen entries, within trimEveryMs', async () => {
    const t = await transport({ retention: { maxLen: 100 }, trimEveryMs: 50 })
    await publishN(t, 'trim.len', 1_000)
    // Await the transport's count: another connection can see the trimmed stream before it reads the reply.
    await eventually(() => t.stats().trimmed === 900, 'the trims to count 900 removed', { timeoutMs: 5_000 })
    expect(await admin.xlen(t.keys.stream('trim.len'))).toBe(100)
    const [first] = await admin.xrange(t.keys.stream('trim.len'), '-', '+', 'COUNT', 1)
    expect(JSON.parse(first?.[1][1] ?? '{}').data.n).toBe(900)
  })

  it('trims entries older than retention.maxAgeMs', async () => {
    const t = await transport({ retention: { maxAgeMs: 200 }, trimEveryMs: 50 })
    await publishN(t, 'trim.age', 300)
    expect(await admin.xlen(t.keys.stream('trim.age'))).toBe(300)
    await eventually(
      async () => {
        await t.publish([testEnvelope('trim.age', { n: -1 })])
        return (await admin.xlen(t.keys.stream('trim.age'))) < 100
      },
      'the 300 old entries to be trimmed by age',
      { intervalMs: 50, timeoutMs: 5_000 },
    )
  })

  it('by default never removes an entry a group has not settled, and trims once the group settles', async () => {
    const t = await transport({ retention: { maxLen: 100 }, trimEveryMs: 50 })
    const { got } = await collect(t, testSpec({ pattern: 'trim.held', maxInFlight: 10 }))
    await publishN(t, 'trim.held', 1_000)
    await eventually(
      () => got.length === 10 && t.stats().trimsHeldForGroups > 0,
      'the group to hold 10 unsettled and the trim to be held',
    )
    expect(await admin.xlen(t.keys.stream('trim.held'))).toBe(1_000)
    // Settling the 10 the group holds (then more arrive): everything before its oldest unsettled entry may go.
    await Promise.all(got.splice(0, 10).map((d) => d.ack()))
    await eventually(() => got.length === 10, 'the next 10 deliveries')
    await t.publish([testEnvelope('trim.held', { n: 1_000 })])
    await eventually(
      async () => (await admin.xlen(t.keys.stream('trim.held'))) === 991,
      'the 10 settled entries to be trimmed',
      { timeoutMs: 5_000 },
    )
    expect(t.stats().trimmedUnread).toBe(0)
  })

  it('with trimUnread trims to the limit anyway and counts what it removed unsettled, in stats and bus metrics', async () => {
    const t = await transport({ retention: { maxLen: 100, trimUnread: true }, trimEveryMs: 50 })
    const { got } = await collect(t, testSpec({ pattern: 'trim.unread', maxInFlight: 10 }))
    await publishN(t, 'trim.unread', 1_000)
    await eventually(() => got.length === 10, 'the group to hold 10 unsettled')
    // 10 delivered and unacked plus 890 never delivered are cut for the group. Await the count, not
    // XLEN: another connection can see the trimmed stream before this transport has read the script's reply.
    await eventually(() => t.stats().trimmedUnread === 900, 'the trims to count 900 removed unsettled', {
      timeoutMs: 5_000,
    })
    expect(await admin.xlen(t.keys.stream('trim.unread'))).toBe(100)
    const bus = createBus({ transport: t, source: 'retention-test', closeTransport: false })
    expect(bus.metrics().totals.trimmedUnread).toBe(900)
    await bus.close()
  })
})

describe('retention at close', () => {
  it('close waits for a trim its timer started (the connection never closes under it) and schedules none after', async () => {
    const prefix = uniquePrefix('trimclose')
    const redis = new Redis(REDIS_URL)
    const client = new IORedisStreamClient(redis, true)
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    let trims = 0
    // The trimmer only pipelines: hold its first pipeline at a gate, as a slow round trip would.
    const gated = {
      pipeline: async (commands: Parameters<IORedisStreamClient['pipeline']>[0]) => {
        trims++
        await gate
        return client.pipeline(commands)
      },
    } as unknown as IORedisStreamClient
    const errors: unknown[] = []
    const options = resolveOptions({
      prefix,
      retention: { maxLen: 5 },
      trimEveryMs: 10,
      onError: (err) => void errors.push(err),
    })
    const trimmer = new RetentionTrimmer(gated, options, newStats())
    const stream = `${prefix}:stream:trim.close`
    try {
      for (let i = 0; i < 20; i++) await redis.xadd(stream, '*', 'payload', String(i))
      trimmer.noteWrite(stream)
      await eventually(() => trims === 1, 'the timer to start a trim')
      let closed = false
      const closing = trimmer.close().then(() => (closed = true))
      await quietPeriod(100)
      expect(closed).toBe(false)
      release()
      await closing
      expect(await redis.xlen(stream)).toBe(5)
      expect(errors).toEqual([])
      trimmer.noteWrite(stream)
      await quietPeriod(100)
      expect(trims).toBe(1)
    } finally {
      await deleteKeys(admin, prefix)
      await client.close()
    }
  })
})

describe('retries and leases', () => {
  it('redelivers a retried entry after its delay, with the attempt taken from the delivery count', async () => {
    const t = await transport()
    const { got } = await collect(t, testSpec({ pattern: 'r.delay' }))
    await t.publish([testEnvelope('r.delay', { n: 1 })])
    await eventually(() => got.length === 1, 'the first delivery')
    expect(got[0]!.attempt).toBe(1)
    const retriedAt = Date.now()
    await got[0]!.retry(400)
    await eventually(() => got.length === 2, 'the redelivery')
    expect(Date.now() - retriedAt).toBeGreaterThanOrEqual(390)
    expect(got[1]!.attempt).toBe(2)
    expect(got[1]!.envelope?.id).toBe(got[0]!.envelope?.id)
    const [[, , , deliveries]] = (await admin.xpending(t.keys.stream('r.delay'), 'g|r.delay', '-', '+', 10)) as [
      [string, string, number, number],
    ]
    expect(deliveries).toBe(2)
    await got[1]!.ack()
    expect(await admin.xpending(t.keys.stream('r.delay'), 'g|r.delay', '-', '+', 10)).toEqual([])
  })

  it('keeps a retry delayed longer than the lease from being reclaimed early by another member', async () => {
    const t = await transport()
    const spec = testSpec({ pattern: 'r.long', leaseMs: 300 })
    const got: Delivery[] = []
    for (let member = 0; member < 2; member++) await t.subscribe(spec, async (batch) => void got.push(...batch))
    await t.publish([testEnvelope('r.long', { n: 1 })])
    await eventually(() => got.length === 1, 'the first delivery')
    const retriedAt = Date.now()
    await got[0]!.retry(1_200)
    await eventually(() => got.length === 2, 'the redelivery', { timeoutMs: 5_000 })
    expect(Date.now() - retriedAt).toBeGreaterThanOrEqual(1_190)
    expect(got[1]!.attempt).toBe(2)
  })

  it('touch() keeps a long-running delivery from being reclaimed by another member', async () => {
    const t = await transport()
    const spec = testSpec({ pattern: 'r.touch', leaseMs: 300 })
    const a = await collect(t, spec)
    await t.publish([testEnvelope('r.touch', { n: 1 })])
    await eventually(() => a.got.length === 1, 'the delivery')
    const b = await collect(t, spec)
    const until = Date.now() + 1_200
    while (Date.now() < until) {
      await a.got[0]!.touch!()
      await quietPeriod(80)
    }
    expect(b.got).toHaveLength(0)
    await a.got[0]!.ack()
  })

  it('acks and counts pending entries whose data was trimmed away, so they never block the PEL', async () => {
    const t = await transport()
    const spec = testSpec({ pattern: 'r.trimmed', leaseMs: 300 })
    const a = await collect(t, spec)
    await t.publish([testEnvelope('r.trimmed', { n: 1 })])
    await eventually(() => a.got.length === 1, 'the delivery')
    await a.sub.close()
    await admin.xtrim(t.keys.stream('r.trimmed'), 'MAXLEN', 0)
    const b = await collect(t, spec)
    await eventually(() => t.stats().trimmedPending === 1, 'the trimmed pending id to be dropped', { timeoutMs: 5_000 })
    expect(await admin.xpending(t.keys.stream('r.trimmed'), 'g|r.trimmed', '-', '+', 10)).toEqual([])
    expect(b.got).toHaveLength(0)
  })
})

describe('consumers', () => {
  it('never removes a consumer that still owns pending entries; removes it on close when it owns none', async () => {
    const t = await transport()
    const spec = testSpec({ pattern: 'c.own', maxInFlight: 1 })
    const holder = await collect(t, spec)
    await t.publish([testEnvelope('c.own', { n: 1 })])
    await eventually(() => holder.got.length === 1, 'the delivery')
    const clean = await collect(t, spec)
    await holder.sub.close()
    await clean.sub.close()
    const consumers = (await admin.call('xinfo', 'consumers', t.keys.stream('c.own'), 'g|c.own')) as unknown[][]
    expect(consumers).toHaveLength(1)
    expect(consumers[0]).toContain('pending')
    expect(consumers[0]![consumers[0]!.indexOf('pending') + 1]).toBe(1)
  })

  it('prunes idle consumers that own nothing, as crashed processes leave behind', async () => {
    const t = await transport({ staleConsumerMs: 200 })
    await collect(t, testSpec({ pattern: 'c.prune' }))
    await admin.call('xgroup', 'createconsumer', t.keys.stream('c.prune'), 'g|c.prune', 'ghost-of-pid-1')
    await eventually(
      async () => {
        const consumers = (await admin.call('xinfo', 'consumers', t.keys.stream('c.prune'), 'g|c.prune')) as string[][]
        return !consumers.some((c) => c.includes('ghost-of-pid-1')) && t.stats().consumersPruned >= 1
      },
      'the ghost consumer to be pruned and counted',
      { timeoutMs: 5_000, intervalMs: 100 },
    )
  })
})

describe('dead letters', () => {
  it('moves a dead letter to the group DLQ stream with its reason, acks it, and redrives it to the failed group only', async () => {
    const t = await transport()
    const failing = await collect(t, testSpec({ pattern: 'd.one', group: 'fails' }))
    const healthy = await collect(t, testSpec({ pattern: 'd.one', group: 'fine' }))
    const event = testEnvelope('d.one', { n: 1 })
    await t.publish([event])
    await eventually(() => failing.got.length === 1 && healthy.got.length === 1, 'both groups to get it')
    await healthy.got[0]!.ack()
    await failing.got[0]!.deadLetter({ kind: 'handler-failed', error: 'Error: boom', attempts: 3 })
    expect(await admin.xpending(t.keys.stream('d.one'), 'fails|d.one', '-', '+', 10)).toEqual([])
    const letters = await t.deadLetters.list({ group: 'fails' })
    expect(letters).toHaveLength(1)
    expect(letters[0]).toMatchObject({
      group: 'fails',
      envelope: { id: event.id },
      reason: { kind: 'handler-failed', error: 'Error: boom', attempts: 3 },
    })
    expect(Date.parse(letters[0]!.failedAt)).not.toBeNaN()
    expect(await t.deadLetters.list()).toHaveLength(1)
    expect(await t.deadLetters.redrive([letters[0]!.id])).toBe(1)
    await eventually(() => failing.got.length === 2, 'the redriven event')
    expect(failing.got[1]!.attempt).toBe(1)
    expect(failing.got[1]!.envelope?.id).toBe(event.id)
    await quietPeriod(300)
    expect(healthy.got).toHaveLength(1)
    expect(await t.deadLetters.list({ group: 'fails' })).toEqual([])
    expect(await t.deadLetters.redrive([letters[0]!.id])).toBe(0)
  })

  it('purges dead letters for good, and keeps the raw body of an entry that is not an envelope', async () => {
    const t = await transport()
    const { got } = await collect(t, testSpec({ pattern: 'd.raw' }))
    await admin.xadd(t.keys.stream('d.raw'), '*', 'something', 'else')
    await eventually(() => got.length === 1, 'the foreign entry')
    expect(got[0]!.envelope).toBeUndefined()
    expect(got[0]!.malformed?.error).toContain("no 'payload' field")
    await got[0]!.deadLetter({ kind: 'malformed', error: got[0]!.malformed!.error, attempts: 1 })
    const [letter] = await t.deadLetters.list({ group: 'g' })
    expect(letter!.raw).toBe('["something","else"]')
    expect(await t.deadLetters.purge([letter!.id, 'g/1-1', 'not-an-id'])).toBe(1)
    expect(await t.deadLetters.list()).toEqual([])
  })
})

describe('wildcard subscriptions', () => {
  it('reads streams that exist at start but are not registered (SCAN), and streams another process creates later (pub/sub notice)', async () => {
    const prefix = uniquePrefix('wild')
    const t = await transport({ prefix, discoveryMs: 60_000 })
    const other = await transport({ prefix })
    const old = testEnvelope('wild.old.x', { n: 1 })
    await admin.xadd(t.keys.stream('wild.old.x'), '*', 'payload', encodeEnvelope(old))
    const { got } = await collect(t, testSpec({ pattern: 'wild.*.x', startFrom: 'earliest' }))
    await eventually(() => got.length === 1, 'the unregistered stream found by SCAN')
    expect(got[0]!.envelope?.id).toBe(old.id)
    // discoveryMs is a minute: only the pub/sub notice of the other transport can find this stream in time.
    const fresh = testEnvelope('wild.new.x', { n: 2 })
    await other.publish([fresh, testEnvelope('wild.new.y', { n: 3 })])
    await eventually(() => got.length === 2, 'the stream created after subscribing', { timeoutMs: 5_000 })
    expect(got[1]!.envelope?.id).toBe(fresh.id)
  })
})

describe('transportFromEnv', () => {
  it('names the variables to set when they are missing or invalid', async () => {
    await expect(transportFromEnv('redis', {})).rejects.toThrow(/REDIS_URL/)
    await expect(transportFromEnv('redis', { REDIS_URL: 'http://localhost' })).rejects.toThrow(
      /REDIS_URL is invalid \(expected a redis:\/\/ or rediss:\/\/ URL/,
    )
    await expect(transportFromEnv('redis', { REDIS_URL: REDIS_URL, TIERBUS_REDIS_PREFIX: 'a b' })).rejects.toThrow(
      /TIERBUS_REDIS_PREFIX/,
    )
    await expect(transportFromEnv('redis', { REDIS_URL: REDIS_URL, TIERBUS_REDIS_MAXLEN: 'lots' })).rejects.toThrow(
      /TIERBUS_REDIS_MAXLEN/,
    )
    const upstash = await transportFromEnv('upstash', {}).catch((e: unknown) => e)
    expect(upstash).toBeInstanceOf(ConfigError)
    expect((upstash as Error).message).toMatch(/UPSTASH_REDIS_REST_URL.*UPSTASH_REDIS_REST_TOKEN/)
  })

  it('builds the ioredis transport from REDIS_URL with the prefix and retention from the environment', async () => {
    const prefix = uniquePrefix('env')
    const t = (await transportFromEnv('redis', {
      TIERBUS_REDIS_URL: REDIS_URL,
      TIERBUS_REDIS_PREFIX: prefix,
      TIERBUS_REDIS_MAXLEN: '100',
    })) as RedisStreamsTransport
    try {
      expect(t.name).toBe('redis')
      expect(t.keys.prefix).toBe(prefix)
      for (let i = 0; i < 5; i++)
        await t.publish(Array.from({ length: 100 }, (_, n) => testEnvelope('env.trim', { n })))
      await eventually(
        async () => (await admin.xlen(t.keys.stream('env.trim'))) === 100,
        'the stream trimmed to TIERBUS_REDIS_MAXLEN',
        { timeoutMs: 5_000 },
      )
    } finally {
      await t.close()
      await deleteKeys(admin, prefix)
    }
  })
})
