import { type Bus, createBus, defineEvent } from '@tierbus/core'
import { eventually, uniqueToken } from '@tierbus/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import type { AmqpTransport } from '../src/index.js'
import { isolatedTransport } from './helpers.js'

const Item = z.object({ key: z.string(), n: z.number().int() })

describe('AMQP per-key order (consistent-hash exchange over single-active-consumer partitions)', () => {
  const transports: AmqpTransport[] = []
  afterEach(async () => {
    while (transports.length) await transports.pop()!.close()
  })

  it('keeps each key in order across two members of one group, and when one leaves mid-stream', async () => {
    const prefix = uniqueToken('tb')
    // Separate connections on one prefix, as separate processes would be. Only m2 deletes the topology
    // when it closes (it declared all of it): m1 leaves mid-test and must leave the queues in place.
    const open = async (deleteOnClose: boolean) => {
      const t = await isolatedTransport({ prefix, deleteOnClose })
      transports.push(t)
      return t
    }
    const E = defineEvent(`${uniqueToken('o')}.step`, Item)
    const seen = new Map<string, number[]>()
    const by = new Map<string, Set<string>>()
    const members: Bus[] = []
    for (const name of ['m1', 'm2']) {
      const bus = createBus({ transport: await open(name === 'm2'), source: 'ordered-test', onError: () => {} })
      members.push(bus)
      await bus.subscribe(
        E,
        async (e) => {
          await new Promise((r) => setTimeout(r, Math.random() * 3))
          seen.set(e.data.key, [...(seen.get(e.data.key) ?? []), e.data.n])
          by.set(e.data.key, (by.get(e.data.key) ?? new Set()).add(name))
        },
        { group: 'ordered', ordered: true, concurrency: 8 },
      )
    }
    const publisher = createBus({ transport: await open(false), source: 'ordered-test' })
    const keys = Array.from({ length: 12 }, (_, i) => `k${i}`)
    const publishRange = async (from: number, to: number) => {
      for (let n = from; n < to; n++) await Promise.all(keys.map((key) => publisher.publish(E, { key, n }, { key })))
    }
    await publishRange(0, 30)
    await eventually(() => keys.every((k) => (seen.get(k)?.length ?? 0) >= 10), 'a third of the events')
    // m1 leaves: its partitions go to m2 (single active consumer), including what m1 had not acked.
    await members[0]!.close({ timeoutMs: 5_000 })
    await publishRange(30, 40)
    await eventually(
      () => keys.every((k) => (seen.get(k)?.length ?? 0) >= 40),
      () => `all 480 events, got ${[...seen.values()].reduce((a, l) => a + l.length, 0)}`,
      { timeoutMs: 30_000 },
    )
    for (const k of keys) expect(seen.get(k), k).toEqual(Array.from({ length: 40 }, (_, i) => i))
    // Both members worked while both were up (the partitions were spread over them).
    expect(new Set([...by.values()].flatMap((s) => [...s]))).toEqual(new Set(['m1', 'm2']))
    await members[1]!.close()
    await publisher.close()
  }, 60_000)
})
