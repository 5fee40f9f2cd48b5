import { fileURLToPath } from 'node:url'
import { createBus } from '@tierbus/core'
import { eventually } from '@tierbus/core/testing'
import { afterAll, describe, expect, it } from 'vitest'
import {
  analyzeRun,
  KEYS,
  orderedEvents,
  PER_KEY,
  publishRun,
  type RunRecord,
  spawnChildMember,
  subscribeMember,
} from '../../../test/ordering/ordered-run.js'
import { adminClient, isolatedRedisTransport, REDIS_URL, uniquePrefix } from './helpers.js'

const admin = adminClient()
afterAll(() => admin.quit())
const LEASE_MS = 2_000

describe('redis: per-key order across group members', () => {
  it('keeps 16 keys × 1,000 events in order with no same-key overlap and none lost, across a member SIGKILLed midway', async () => {
    const prefix = uniquePrefix('order')
    const transport = await isolatedRedisTransport(admin, { prefix })
    const bus = createBus({ transport, source: 'redis-streams/ordered-parent', onError: () => {} })
    const records: RunRecord[] = []
    const log = (r: RunRecord) => void records.push(r)
    const fixture = fileURLToPath(new URL('./fixtures/ordered-member.ts', import.meta.url))
    const child = spawnChildMember(fixture, { RUN_PREFIX: prefix, RUN_LEASE_MS: String(LEASE_MS), REDIS_URL }, log)
    try {
      // The parent takes two partitions first, the child the other two; then the parent stands by for those.
      await subscribeMember(bus, 'parent', log, { leaseMs: LEASE_MS, events: orderedEvents.slice(0, 2) })
      await child.ready
      await subscribeMember(bus, 'parent', log, { leaseMs: LEASE_MS, events: orderedEvents.slice(2) })
      const startedAt = Date.now()
      // Half the events, the child killed while it works through its share, then the other half.
      await publishRun(bus, 0, PER_KEY / 2)
      const childDone = () => records.filter((r) => r.member === 'child' && r.phase === 'E' && r.ok).length
      await eventually(
        () => childDone() >= (KEYS * PER_KEY) / 16,
        () => `the child to handle a share of the events (${childDone()})`,
        { timeoutMs: 60_000 },
      )
      const killedAt = performance.timeOrigin + performance.now()
      child.process.kill('SIGKILL')
      await new Promise((resolve) => child.process.once('exit', resolve))
      await publishRun(bus, PER_KEY / 2, PER_KEY)
      const handled = () => new Set(records.filter((r) => r.phase === 'E' && r.ok).map((r) => `${r.key} ${r.n}`)).size
      await eventually(
        () => handled() === KEYS * PER_KEY,
        () => `every event handled, ${handled()} so far`,
        { timeoutMs: 120_000 },
      )
      const seconds = (Date.now() - startedAt) / 1_000
      const report = analyzeRun(records, { member: 'child', at: killedAt })
      console.log(
        `redis ordered run: ${KEYS * PER_KEY} events in ${seconds.toFixed(1)} s (${Math.round((KEYS * PER_KEY) / seconds)}/s incl. one lease of failover), ${JSON.stringify(report)}`,
      )
      expect(report.lost).toBe(0)
      expect(report.outOfOrder).toBe(0)
      expect(report.overlaps).toBe(0)
      expect(report.injectedFailures).toBeGreaterThan(100)
      expect(report.byMember.child).toBeGreaterThan(0)
      // The parent took over the child's partitions: it handled more than its own half.
      expect(report.byMember.parent).toBeGreaterThan((KEYS * PER_KEY) / 2)
    } finally {
      if (child.process.exitCode === null) child.process.kill('SIGKILL')
      await bus.close()
    }
  }, 240_000)
})
