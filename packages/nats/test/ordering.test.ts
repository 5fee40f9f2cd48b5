import { fileURLToPath } from 'node:url'
import { createBus } from '@tierbus/core'
import { uniqueToken } from '@tierbus/core/testing'
import { describe, expect, it } from 'vitest'
import { KEYS, killMidwayRun, PER_KEY, type RunRecord, spawnChildMember } from '../../../test/ordering/ordered-run.js'
import { isolatedTransport, NATS_URL } from './helpers.js'

const LEASE_MS = 2_000

describe('nats: per-key order across group members', () => {
  it('keeps 16 keys × 1,000 events in order with no same-key overlap and none lost, across a member SIGKILLed midway', async () => {
    const prefix = uniqueToken('tb')
    const stream = prefix.toUpperCase()
    const transport = await isolatedTransport({ prefix, stream })
    const bus = createBus({ transport, source: 'nats/ordered-parent', onError: () => {} })
    const records: RunRecord[] = []
    const log = (r: RunRecord) => void records.push(r)
    const fixture = fileURLToPath(new URL('./fixtures/ordered-member.ts', import.meta.url))
    const child = spawnChildMember(
      fixture,
      { RUN_PREFIX: prefix, RUN_STREAM: stream, RUN_LEASE_MS: String(LEASE_MS), NATS_URL },
      log,
    )
    try {
      const report = await killMidwayRun('nats', bus, child, records, LEASE_MS)
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
