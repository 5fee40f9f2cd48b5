// The MisterSmith subjects (agent.<id>.<lifecycle>, work.<domain>.<priority>.<task>, coord.<workflow>.<stage>)
// split over three real tiers by one routed transport, under load from concurrent mixed-type batches:
// every group gets every event it matches exactly once.
import {
  type Bus,
  createBus,
  defineEvent,
  matchesPattern,
  type OutgoingEvent,
  outgoing,
  type RoutedTransport,
  routedTransport,
} from '@tierbus/core'
import { eventually, quietPeriod } from '@tierbus/core/testing'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { freshPostgresTransport } from '../../packages/db-realtime/test/helpers.js'
import { isolatedTransport as isolatedNatsTransport } from '../../packages/nats/test/helpers.js'
import { adminClient, isolatedRedisTransport } from '../../packages/redis-streams/test/helpers.js'

const admin = adminClient()
afterAll(() => admin.quit())
const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.()
})

const Body = z.object({ seq: z.number().int() })
const AGENTS = ['nlp-001', 'nlp-002', 'vision-001']
const agentTypes = AGENTS.flatMap((a) => [`agent.${a}.heartbeat`, `agent.${a}.started`])
const workTypes = ['work.nlp.high.sentiment', 'work.nlp.low.summarize', 'work.vision.high.ocr']
const coordTypes = ['coord.wf-1.plan', 'coord.wf-1.review', 'coord.wf-2.plan']
const ALL_TYPES = [...agentTypes, ...workTypes, ...coordTypes]
const definitions = new Map(ALL_TYPES.map((t) => [t, defineEvent(t, Body)]))

/** agent.> on NATS (the MisterSmith starting point), work.> on Postgres, coord.> on Redis. */
async function threeTierRouter(): Promise<RoutedTransport> {
  const nats = await isolatedNatsTransport()
  const postgres = await freshPostgresTransport()
  const redis = await isolatedRedisTransport(admin)
  const router = routedTransport({
    routes: [
      { match: 'coord.>', transport: redis },
      { match: 'work.>', transport: postgres },
      { match: 'agent.>', transport: nats },
    ],
  })
  cleanups.push(() => router.close())
  return router
}

describe('MisterSmith subjects over nats + postgres + redis', () => {
  it('delivers every event once per group under concurrent mixed batches, one group spanning all tiers', async () => {
    const router = await threeTierRouter()
    const bus = (): Bus => {
      const b = createBus({ transport: router, source: 'mistersmith/test', closeTransport: false, onError: () => {} })
      cleanups.push(() => b.close({ timeoutMs: 5_000 }))
      return b
    }
    // group -> id -> times handled
    const handled = new Map<string, Map<string, number>>()
    const count = (group: string) => (e: { id: string }) => {
      const ids = handled.get(group) ?? new Map<string, number>()
      ids.set(e.id, (ids.get(e.id) ?? 0) + 1)
      handled.set(group, ids)
    }
    const patterns = { audit: '>', 'workers-nlp': 'work.nlp.>', monitor: 'agent.*.heartbeat', coordinator: 'coord.>' }
    for (const [group, pattern] of Object.entries(patterns)) {
      // Two competing members per group, each its own bus (as two processes would be).
      for (let m = 0; m < 2; m++) await bus().subscribe(pattern, count(group), { group, concurrency: 16 })
    }
    // 4 publishers x 25 batches x 20 mixed events = 2,000 events, every batch split across the three tiers.
    const published: Array<{ id: string; type: string }> = []
    const started = Date.now()
    await Promise.all(
      Array.from({ length: 4 }, async (_, p) => {
        const publisher = bus()
        for (let b = 0; b < 25; b++) {
          const batch: OutgoingEvent[] = Array.from({ length: 20 }, (_, k) => {
            const type = ALL_TYPES[(p + b + k) % ALL_TYPES.length] ?? 'coord.wf-1.plan'
            const def = definitions.get(type) ?? defineEvent(type, Body)
            return outgoing(def, { seq: p * 10_000 + b * 100 + k })
          })
          for (const e of await publisher.publishBatch(batch)) published.push({ id: e.id, type: e.type })
        }
      }),
    )
    const matching = (pattern: string) => published.filter((e) => matchesPattern(pattern, e.type))
    const expected = Object.fromEntries(Object.entries(patterns).map(([g, p]) => [g, matching(p)]))
    expect(published).toHaveLength(2_000)
    expect(expected.audit).toHaveLength(2_000)
    await eventually(
      () => Object.entries(expected).every(([g, list]) => (handled.get(g)?.size ?? 0) === list.length),
      () =>
        Object.entries(expected)
          .map(([g, list]) => `${g} ${handled.get(g)?.size ?? 0}/${list.length}`)
          .join(', '),
      { timeoutMs: 60_000 },
    )
    const elapsed = Date.now() - started
    await quietPeriod(500)
    for (const [group, list] of Object.entries(expected)) {
      const ids = handled.get(group) ?? new Map<string, number>()
      expect(ids.size, `${group}: none lost`).toBe(list.length)
      expect(
        [...ids.values()].filter((n) => n > 1),
        `${group}: none twice`,
      ).toEqual([])
      for (const e of list) expect(ids.has(e.id)).toBe(true)
    }
    console.log(`[mistersmith routed] 2,000 events over 3 tiers, 4 groups x 2 members: all handled in ${elapsed} ms`)
  }, 120_000)

  it('answers a request on one tier through a reply inbox on another', async () => {
    const router = await threeTierRouter()
    const Status = defineEvent('agent.nlp-001.cmd.status', z.object({}), { reply: z.object({ state: z.string() }) })
    const bus = createBus({ transport: router, source: 'mistersmith/test', closeTransport: false })
    cleanups.push(() => bus.close())
    await bus.subscribe(Status, () => ({ state: 'idle' }), { group: 'nlp-001' })
    // The request goes to NATS (agent.>); the inbox takes the first route (Redis).
    expect(router.transportOf(Status.type)?.name).toBe('nats')
    expect(router.transportOf('_inbox.0123456789abcdef')?.name).toBe('redis')
    expect(await bus.request(Status, {}, { timeoutMs: 5_000 })).toEqual({ state: 'idle' })
  }, 60_000)
})
