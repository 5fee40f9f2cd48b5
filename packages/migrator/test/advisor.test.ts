import { createBus, defineEvent, memoryTransport } from '@tierbus/core'
import { adviseTier, workloadFromMetrics } from '@tierbus/migrator'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'

describe('tier advisor (seed 004 triggers)', () => {
  it("keeps seed 004's current system at 2,500 events/day with 8 agents", () => {
    const v = adviseTier({ currentTier: 'db-realtime', eventsPerDay: 2500, agents: 8 })
    expect(v.provisional).toBe(false)
    expect(v.action).toBe('stay')
    expect(v.recommendedTier).toBe('db-realtime')
    expect(v.reasons[0]).toMatch(/no trigger fired/)
  })

  it('moves the database tier to Redis Streams above 10,000 events/day', () => {
    const v = adviseTier({ currentTier: 'db-realtime', eventsPerDay: 15_000 })
    expect(v).toMatchObject({ action: 'migrate', recommendedTier: 'redis-streams' })
    expect(v.reasons.join()).toMatch(/15,000 events\/day > 10,000/)
  })

  it('moves to SQS/SNS above 100,000 events/day, for multi-region, or for delivery SLAs', () => {
    expect(adviseTier({ currentTier: 'redis-streams', eventsPerDay: 150_000 }).recommendedTier).toBe('sqs-sns')
    expect(adviseTier({ currentTier: 'db-realtime', eventsPerDay: 100, multiRegion: true }).recommendedTier).toBe(
      'sqs-sns',
    )
    expect(
      adviseTier({ currentTier: 'db-realtime', eventsPerDay: 100, guaranteedDeliverySla: true }).recommendedTier,
    ).toBe('sqs-sns')
  })

  it('moves to Redis Streams for a latency need under 100 ms or more than 20 agents', () => {
    expect(
      adviseTier({ currentTier: 'db-realtime', eventsPerDay: 100, latencyRequirementMs: 50 }).recommendedTier,
    ).toBe('redis-streams')
    expect(adviseTier({ currentTier: 'db-realtime', eventsPerDay: 100, agents: 21 }).recommendedTier).toBe(
      'redis-streams',
    )
    expect(adviseTier({ currentTier: 'db-realtime', eventsPerDay: 100, agents: 20 }).action).toBe('stay')
  })

  it('never recommends moving down, and keeps NATS unless SQS-level needs fire', () => {
    expect(adviseTier({ currentTier: 'sqs-sns', eventsPerDay: 10 })).toMatchObject({
      action: 'stay',
      recommendedTier: 'sqs-sns',
    })
    expect(adviseTier({ currentTier: 'nats', eventsPerDay: 50_000, latencyRequirementMs: 20 }).recommendedTier).toBe(
      'nats',
    )
    expect(adviseTier({ currentTier: 'nats', eventsPerDay: 50_000, multiRegion: true }).recommendedTier).toBe('sqs-sns')
  })

  it('warns when retention removed events before a group settled them, from the metrics snapshot', () => {
    const quiet = adviseTier({ currentTier: 'redis-streams', eventsPerDay: 50_000, trimmedUnread: 0 })
    expect(quiet.reasons.join(' ')).not.toMatch(/retention removed/)
    const snapshot = createBus({ transport: memoryTransport(), source: 'advisor-test' }).metrics()
    const w = workloadFromMetrics(
      { ...snapshot, totals: { ...snapshot.totals, trimmedUnread: 900 } },
      { currentTier: 'redis-streams' },
    )
    expect(adviseTier(w).reasons).toContainEqual(
      expect.stringMatching(/^warning: retention removed 900 events before a consumer group settled them/),
    )
  })

  it('never leaves production on memory', () => {
    expect(adviseTier({ currentTier: 'memory', eventsPerDay: 10, production: true }).recommendedTier).toBe(
      'db-realtime',
    )
  })

  it('reads volume and latency from a live bus and returns JSON', async () => {
    const bus = createBus({ transport: memoryTransport(), source: 'advisor-test' })
    const E = defineEvent('adv.e', z.object({ n: z.number() }))
    let n = 0
    await bus.subscribe(E, () => void n++)
    await bus.publishBatch(
      E,
      Array.from({ length: 50 }, (_, i) => ({ n: i })),
    )
    const w = workloadFromMetrics(bus.metrics(), { currentTier: 'db-realtime' })
    // 50 events in a process a moment old extrapolate past both thresholds — and say so.
    expect(w.eventsPerDay).toBeGreaterThan(100_000)
    expect(w.observedSeconds).toBeLessThan(60)
    const verdict = JSON.parse(JSON.stringify(adviseTier(w)))
    expect(verdict.recommendedTier).toBe('sqs-sns')
    expect(verdict.triggers.find((t: { name: string }) => t.name === 'events-per-day-over-sqs-threshold').fired).toBe(
      true,
    )
    expect(verdict.provisional).toBe(true)
    expect(verdict.action).toBe('watch')
    expect(verdict.reasons.at(-1)).toMatch(/^provisional: events\/day extrapolated from \d+ s of traffic/)
    await bus.close()
  })

  it('never says migrate on volume extrapolated from under an hour, and does once an hour was measured', () => {
    const short = adviseTier({ currentTier: 'db-realtime', eventsPerDay: 458_234, observedSeconds: 4 })
    expect(short).toMatchObject({ action: 'watch', recommendedTier: 'sqs-sns', provisional: true })
    const long = adviseTier({ currentTier: 'db-realtime', eventsPerDay: 458_234, observedSeconds: 7_200 })
    expect(long).toMatchObject({ action: 'migrate', recommendedTier: 'sqs-sns', provisional: false })
  })

  it('still says migrate for a requirement that needs no extrapolation (production on memory)', () => {
    const v = adviseTier({ currentTier: 'memory', eventsPerDay: 10, production: true, observedSeconds: 4 })
    expect(v).toMatchObject({ action: 'migrate', recommendedTier: 'db-realtime', provisional: false })
  })

  it('reads production from NODE_ENV when the app does not say', async () => {
    const bus = createBus({ transport: memoryTransport(), source: 'advisor-env' })
    const before = process.env.NODE_ENV
    try {
      process.env.NODE_ENV = 'production'
      expect(workloadFromMetrics(bus.metrics(), { currentTier: 'memory' }).production).toBe(true)
      expect(workloadFromMetrics(bus.metrics(), { currentTier: 'memory', production: false }).production).toBe(false)
      process.env.NODE_ENV = 'development'
      expect(workloadFromMetrics(bus.metrics(), { currentTier: 'memory' }).production).toBe(false)
    } finally {
      process.env.NODE_ENV = before
      await bus.close()
    }
  })

  it('writes no reason with an undefined value', () => {
    const v = adviseTier({ currentTier: 'db-realtime', eventsPerDay: 100 })
    for (const t of v.triggers) expect(t.reason).not.toMatch(/undefined|NaN/)
  })
})
