import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { streamAckCoalescer, streamAckKey } from '../src/ack-batcher.js'
import type { RedisStreamClient } from '../src/client.js'
import { IORedisStreamClient } from '../src/ioredis.js'
import { adminClient, deleteKeys, REDIS_URL, uniquePrefix } from './helpers.js'

const admin = adminClient()
const prefix = uniquePrefix('acks')
const client = new IORedisStreamClient(new Redis(REDIS_URL), true)
/** Round trips by kind: the real client, counted. */
const calls = { send: 0, pipeline: 0 }
const counted: RedisStreamClient = {
  protocol: 'tcp',
  send(command) {
    calls.send++
    return client.send(command)
  },
  pipeline(commands) {
    calls.pipeline++
    return client.pipeline(commands)
  },
  close: () => client.close(),
}
afterAll(async () => {
  await client.close()
  await deleteKeys(admin, prefix)
  await admin.quit()
})

/** A stream with one group that has read `count` entries: their ids, pending until acked. */
async function pendingEntries(stream: string, group: string, count: number): Promise<string[]> {
  for (let i = 0; i < count; i++) await admin.xadd(stream, '*', 'payload', String(i))
  await admin.xgroup('CREATE', stream, group, '0')
  const reply = (await admin.xreadgroup('GROUP', group, 'c', 'COUNT', count, 'STREAMS', stream, '>')) as Array<
    [string, Array<[string, string[]]>]
  >
  return reply[0]![1].map(([id]) => id)
}

const pendingCount = async (stream: string, group: string) =>
  ((await admin.xpending(stream, group)) as [number, ...unknown[]])[0]

describe('streamAckCoalescer', () => {
  it('acks the entries of one stream and group in one plain XACK (no pipeline), and fails them all with the reply error', async () => {
    const stream = `${prefix}:one`
    const ids = await pendingEntries(stream, 'g', 3)
    const acks = streamAckCoalescer(counted)
    const key = streamAckKey({ stream, group: 'g', id: '' })
    calls.send = calls.pipeline = 0
    await Promise.all(ids.map((id) => acks.ack(key, { stream, group: 'g', id })))
    expect(await pendingCount(stream, 'g')).toBe(0)
    expect(calls).toEqual({ send: 1, pipeline: 0 })

    // A key that is not a stream: XACK answers WRONGTYPE, and every ack of the flush rejects with it.
    const wrong = `${prefix}:not-a-stream`
    await admin.set(wrong, 'x')
    const failed = await Promise.allSettled(
      ['1-1', '1-2'].map((id) =>
        acks.ack(streamAckKey({ stream: wrong, group: 'g', id }), { stream: wrong, group: 'g', id }),
      ),
    )
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    expect(String((failed[0] as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/)
  })

  it('sends several streams in one pipeline; a failing one rejects only its own acks', async () => {
    const a = `${prefix}:a`
    const b = `${prefix}:b`
    const wrong = `${prefix}:wrong`
    await admin.set(wrong, 'x')
    const [idA] = await pendingEntries(a, 'g', 1)
    const [idB] = await pendingEntries(b, 'g', 1)
    const acks = streamAckCoalescer(counted)
    const ack = (stream: string, id: string) =>
      acks.ack(streamAckKey({ stream, group: 'g', id }), { stream, group: 'g', id })
    calls.send = calls.pipeline = 0
    const results = await Promise.allSettled([ack(a, idA!), ack(wrong, '1-1'), ack(b, idB!)])
    expect(calls).toEqual({ send: 0, pipeline: 1 })
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect(await pendingCount(a, 'g')).toBe(0)
    expect(await pendingCount(b, 'g')).toBe(0)
  })
})
