import { PGlite } from '@electric-sql/pglite'
import { createBus, defineEvent, outgoing } from '@tierbus/core'
import { eventually, uniqueToken } from '@tierbus/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { pgliteTransport } from '../src/index.js'

const Step = z.object({ key: z.string(), n: z.number().int() })
/** A backlog of few keys, many events each: the shape that made every empty ordered claim walk all of it. */
const KEYS = 16
const PER_KEY = 1_000
/** Handled per key before the test stops: enough claims over the full backlog to see leases run out. */
const HANDLED_PER_KEY = 40

describe('pglite ordered delivery', () => {
  const cleanups: Array<() => Promise<unknown>> = []
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!()
  })

  // PGlite runs SQL on the app's thread: a slow ordered claim stalls every timer, leases run out while
  // the rows wait to be handed out, and the same events come back again and again (issue 12, bug 7).
  it(`works through a backlog of ${KEYS} keys x ${PER_KEY} events with two subscriptions of one group: in order per key, once each, no overlap`, async () => {
    const db = await PGlite.create()
    cleanups.push(() => db.close())
    const transport = await pgliteTransport({ client: db, schema: 'ordered_livelock', onError: () => {} })
    cleanups.push(() => transport.close())
    const bus = createBus({ transport, source: 'test', closeTransport: false, onError: () => {} })
    cleanups.push(() => bus.close({ timeoutMs: 1_000 }))
    const E = defineEvent(`${uniqueToken('ord')}.step`, Step)

    const running = new Set<string>()
    const seen = new Map<string, number[]>()
    const handledIds = new Map<string, number>()
    let overlaps = 0
    const handle = async (e: { id: string; data: { key: string; n: number } }) => {
      if (running.has(e.data.key)) overlaps++
      running.add(e.data.key)
      // Hand the thread back once, so a second handler of the same key could start if ordering were broken.
      await new Promise((resolve) => setImmediate(resolve))
      running.delete(e.data.key)
      handledIds.set(e.id, (handledIds.get(e.id) ?? 0) + 1)
      const list = seen.get(e.data.key) ?? []
      list.push(e.data.n)
      seen.set(e.data.key, list)
    }
    const events = []
    for (let n = 0; n < PER_KEY; n++)
      for (let k = 0; k < KEYS; k++) events.push(outgoing(E, { key: `k${k}`, n }, { key: `k${k}` }))
    await bus.publishBatch(events)

    // More room than keys, so members keep claiming while every key is in flight: each of those claims
    // walked the whole backlog (~1 s per claim here, the thread stalled for 20-40 s and leases ran out).
    // The lease is far longer than a claim needs and shorter than those stalls.
    const options = {
      group: 'ordered-agents',
      ordered: true,
      concurrency: 16,
      leaseMs: 10_000,
      startFrom: 'earliest',
    } as const
    await bus.subscribe(E, handle, options)
    await bus.subscribe(E, handle, options)

    const enough = () => seen.size === KEYS && [...seen.values()].every((ns) => ns.length >= HANDLED_PER_KEY)
    await eventually(enough, () => `${HANDLED_PER_KEY} events of each key handled, got ${handledIds.size} in all`, {
      timeoutMs: 90_000,
      intervalMs: 100,
    })
    expect(overlaps).toBe(0)
    expect([...handledIds.values()].filter((count) => count > 1)).toEqual([])
    for (const [key, ns] of seen) expect(ns, `order of ${key}`).toEqual(Array.from({ length: ns.length }, (_, n) => n))
  }, 150_000)
})
