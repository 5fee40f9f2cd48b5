import { createBus, type Envelope, newEventId, type Transport } from '@tierbus/core'
import { eventually, quietPeriod } from '@tierbus/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { isolatedTransport } from './helpers.js'

const open: Transport[] = []
afterEach(async () => {
  while (open.length) await open.pop()!.close()
})

function envelope(n: number): Envelope {
  return {
    specversion: '1.0',
    id: newEventId(),
    source: 'nats/retention-test',
    type: 'kept.item',
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data: { n },
  }
}

describe('nats: retention limits are surfaced', () => {
  it("counts messages the stream's max_age removed before a group acked them, in trimmedUnread and bus metrics", async () => {
    const t = await isolatedTransport({ maxAgeMs: 1_000, retentionCheckMs: 100 })
    open.push(t)
    const spec = {
      pattern: 'kept.item',
      group: 'slow',
      startFrom: 'latest',
      maxInFlight: 1,
      leaseMs: 30_000,
      maxAttempts: 5,
      ordered: false,
      ephemeral: false,
    } as const
    // A group that takes one message and never settles it: all 10 expire unsettled (1 delivered, 9 never).
    let got = 0
    await t.subscribe(spec, async (batch) => {
      got += batch.length
    })
    await t.publish(Array.from({ length: 10 }, (_, n) => envelope(n)))
    await eventually(() => got === 1, 'the one delivery')
    await eventually(
      () => (t.trimmedUnread?.() ?? 0) === 10,
      () => `10 counted as removed unread, got ${t.trimmedUnread?.()}`,
      { timeoutMs: 10_000 },
    )
    const bus = createBus({ transport: t, source: 'nats/retention-test', closeTransport: false })
    expect(bus.metrics().totals.trimmedUnread).toBe(10)
    await bus.close()
  })

  it('counts nothing for a group that acked every message before the stream removed it', async () => {
    const t = await isolatedTransport({ maxAgeMs: 1_000, retentionCheckMs: 100 })
    open.push(t)
    const spec = {
      pattern: 'kept.item',
      group: 'quick',
      startFrom: 'latest',
      maxInFlight: 16,
      leaseMs: 30_000,
      maxAttempts: 5,
      ordered: false,
      ephemeral: false,
    } as const
    let acked = 0
    await t.subscribe(spec, async (batch) => {
      for (const d of batch) await d.ack()
      acked += batch.length
    })
    await t.publish(Array.from({ length: 10 }, (_, n) => envelope(n)))
    await eventually(() => acked === 10, 'all 10 acked')
    const jsm = await t.connection.jetstreamManager()
    await eventually(
      async () => (await jsm.streams.info(t.streams[0]!)).state.messages === 0,
      'the stream to expire them',
      { timeoutMs: 10_000 },
    )
    await quietPeriod(300)
    expect(t.trimmedUnread?.()).toBe(0)
  })
})
