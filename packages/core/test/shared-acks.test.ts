import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { AckCoalescer } from '../src/adapter/index.js'
import { createBus, type Delivery, defineEvent, type Envelope, newEventId, type Transport } from '../src/index.js'
import { eventually } from '../src/testing/index.js'

describe('AckCoalescer with sharedResults', () => {
  it('gives the acks of one group one promise, sent in one call, and rejects them all when the group fails', async () => {
    const sent: Array<Array<[string, number[]]>> = []
    let fail = false
    const acks = new AckCoalescer<number>({
      sharedResults: true,
      send: async (groups) => {
        sent.push(groups.map((g) => [g.key, [...g.items]]))
        return groups.map((g) => (fail && g.key === 'a' ? { error: new Error('group a failed') } : undefined))
      },
    })
    const [a1, a2, b1] = [acks.ack('a', 1), acks.ack('a', 2), acks.ack('b', 3)]
    expect(a1).toBe(a2)
    expect(b1).not.toBe(a1)
    await Promise.all([a1, b1])
    expect(sent).toEqual([
      [
        ['a', [1, 2]],
        ['b', [3]],
      ],
    ])

    // The next round is a new group with a new promise.
    fail = true
    const [a3, b2] = [acks.ack('a', 4), acks.ack('b', 5)]
    expect(a3).not.toBe(a1)
    await expect(a3).rejects.toThrow('group a failed')
    await expect(b2).resolves.toBeUndefined()
  })

  it('rejects the whole group with its first item error, and sends a full group at once', async () => {
    const acks = new AckCoalescer<number>({
      sharedResults: true,
      maxGroupSize: 2,
      send: async (groups) =>
        groups.map((g) => ({ itemErrors: g.items.map((n) => (n === 2 ? new Error(`no ${n}`) : undefined)) })),
    })
    const [first, second] = [acks.ack('a', 1), acks.ack('a', 2)]
    // The group was full at its second ack: the third starts a new one.
    const third = acks.ack('a', 3)
    expect(first).toBe(second)
    expect(third).not.toBe(first)
    await expect(first).rejects.toThrow('no 2')
    await expect(third).resolves.toBeUndefined()
  })
})

describe('consumer with acks that share one promise', () => {
  const Item = z.object({ n: z.number() })
  const Ev = defineEvent('shared.acks', Item)
  const envelope = (n: number): Envelope => ({
    specversion: '1.0',
    id: newEventId(),
    source: 'test',
    type: Ev.type,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data: { n },
  })

  /** A transport whose deliveries' acks all return `ackPromise()` (what a coalescer with sharedResults does). */
  function sharedAckTransport(ackPromise: () => Promise<void>) {
    let onBatch: ((batch: Delivery[]) => Promise<void>) | undefined
    const transport: Transport = {
      name: 'shared-acks',
      capabilities: { persistent: false, replay: false, ordering: 'none', delay: false, maxPayloadBytes: Infinity },
      publish: async () => {},
      subscribe: async (_spec, cb) => {
        onBatch = cb
        return { close: async () => {} }
      },
      close: async () => {},
    }
    const deliver = (envelopes: Envelope[]) =>
      onBatch!(
        envelopes.map((env) => ({
          envelope: env,
          attempt: 1,
          ack: ackPromise,
          retry: async () => {},
          deadLetter: async () => {},
        })),
      )
    return { transport, deliver }
  }

  it('holds every slot until the shared ack settles, then frees them all; a failed one is reported per event', async () => {
    let round: { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | undefined
    const next = () => {
      let resolve!: () => void
      let reject!: (e: unknown) => void
      const promise = new Promise<void>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    }
    const { transport, deliver } = sharedAckTransport(() => {
      round ??= next()
      return round.promise
    })
    const errors: Array<{ phase: string; eventId?: string }> = []
    const bus = createBus({ transport, source: 'test', onError: (_err, info) => void errors.push(info) })
    const handled: number[] = []
    await bus.subscribe(Ev, (e) => void handled.push(e.data.n), { group: 'g', concurrency: 3 })

    const first = [envelope(1), envelope(2), envelope(3)]
    void deliver([...first, envelope(4)])
    // Three handlers ran and acked; the fourth waits for a slot, which only the ack's settlement frees.
    await eventually(() => handled.length === 3, 'three handlers to run')
    await new Promise((r) => setImmediate(r))
    expect(handled).toEqual([1, 2, 3])
    expect(bus.metrics().byGroup.g?.acked).toBe(0)

    const failing = round!
    round = undefined
    failing.reject(new Error('ack failed'))
    await eventually(() => handled.length === 4, 'the fourth handler to run')
    expect(errors.map((e) => e.eventId)).toEqual(first.map((e) => e.id))
    expect(errors.every((e) => e.phase === 'settle')).toBe(true)
    expect(bus.metrics().totals.settleFailures).toBe(3)

    round!.resolve()
    await eventually(() => bus.metrics().byGroup.g?.acked === 1, 'the fourth ack to be counted')
    await bus.close({ timeoutMs: 1_000 })
  })
})
