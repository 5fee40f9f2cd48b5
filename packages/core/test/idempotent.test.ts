import {
  ConfigError,
  createBus,
  type DedupStore,
  defineEvent,
  idempotent,
  memoryDedupStore,
  memoryTransport,
} from '@tierbus/core'
import { eventually } from '@tierbus/core/testing'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'

const Paid = defineEvent('idem.unit.paid', z.object({ order: z.string() }))

describe('idempotent()', () => {
  it('rejects a missing store and non-positive durations at configuration time', () => {
    expect(() => idempotent({} as never)).toThrow(ConfigError)
    expect(() => idempotent({ store: memoryDedupStore(), ttlMs: 0 })).toThrow(/ttlMs/)
    expect(() => idempotent({ store: memoryDedupStore(), claimMs: -1 })).toThrow(/claimMs/)
  })

  it('runs the handler once per key and group: a re-published order id is acked without running, another group runs it', async () => {
    const bus = createBus({ transport: memoryTransport(), source: 'idem-unit', onError: () => {} })
    const store = memoryDedupStore()
    const runs: string[] = []
    try {
      const byOrder = idempotent({ store, key: (e) => (e.data as { order: string }).order })
      await bus.subscribe(Paid, (e) => void runs.push(`billing:${e.data.order}`), {
        group: 'billing',
        middleware: [byOrder],
      })
      await bus.subscribe(Paid, (e) => void runs.push(`email:${e.data.order}`), {
        group: 'email',
        middleware: [byOrder],
      })
      await bus.publish(Paid, { order: 'o-1' })
      await bus.publish(Paid, { order: 'o-1' }) // a new event id, the same business key
      await bus.publish(Paid, { order: 'o-2' })
      await eventually(
        () => bus.metrics().byGroup.billing?.acked === 3 && bus.metrics().byGroup.email?.acked === 3,
        'all acked',
      )
      expect(runs.sort()).toEqual(['billing:o-1', 'billing:o-2', 'email:o-1', 'email:o-2'])
    } finally {
      await bus.close()
    }
  })

  it('fails the delivery when the key function returns no string (retried, then dead-lettered with the reason)', async () => {
    const bus = createBus({
      transport: memoryTransport(),
      source: 'idem-unit',
      retry: { attempts: 1 },
      onError: () => {},
    })
    try {
      await bus.subscribe(Paid, () => {}, {
        group: 'billing',
        middleware: [idempotent({ store: memoryDedupStore(), key: () => '' })],
      })
      await bus.publish(Paid, { order: 'o-1' })
      await eventually(async () => (await bus.deadLetters.list()).length === 1, 'dead-lettered')
      expect((await bus.deadLetters.list())[0]?.reason.error).toMatch(/return a non-empty string/)
    } finally {
      await bus.close()
    }
  })

  it('acks a handled delivery even when the store fails to mark it done (a retry would run the handler again)', async () => {
    const inner = memoryDedupStore()
    const flaky: DedupStore = {
      ...inner,
      complete: async () => {
        throw new Error('store down')
      },
    }
    const bus = createBus({ transport: memoryTransport(), source: 'idem-unit', onError: () => {} })
    let runs = 0
    try {
      await bus.subscribe(Paid, () => void runs++, { group: 'billing', middleware: [idempotent({ store: flaky })] })
      await bus.publish(Paid, { order: 'o-1' })
      await eventually(() => bus.metrics().byGroup.billing?.acked === 1, 'acked')
      expect(runs).toBe(1)
      expect(bus.metrics().totals.retried).toBe(0)
    } finally {
      await bus.close()
    }
  })
})
