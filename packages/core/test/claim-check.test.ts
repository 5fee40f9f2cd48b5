import {
  ConfigError,
  claimCheckTransport,
  createBus,
  defineEvent,
  type Envelope,
  MEMORY_CAPABILITIES,
  memoryPayloadStore,
  memoryTransport,
  newEventId,
  type PayloadStore,
  routedTransport,
  type Transport,
  ValidationError,
} from '@tierbus/core'
import { eventually, quietPeriod } from '@tierbus/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'

const Doc = z.object({ name: z.string(), body: z.string() })
const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.()
})

/** A memory store that records every id it was asked for. */
function recordingStore(): PayloadStore & { asked: string[]; failGets: number } {
  const inner = memoryPayloadStore()
  const store = {
    kind: 'memory',
    asked: [] as string[],
    failGets: 0,
    put: (id: string, body: string) => inner.put(id, body),
    async get(id: string) {
      store.asked.push(id)
      if (store.failGets > 0) {
        store.failGets--
        throw new Error('store unreachable')
      }
      return inner.get(id)
    },
  }
  return store
}

/** A memory tier with a 4 KiB limit (as a broker with a small message size), wrapped with claim-check. */
function smallTier(store: PayloadStore) {
  const inner = memoryTransport()
  const limited: Transport & { sent: Envelope[] } = {
    name: 'small',
    capabilities: { ...MEMORY_CAPABILITIES, maxPayloadBytes: 4_096 },
    sent: [],
    publish: async (batch) => {
      limited.sent.push(...batch)
      await inner.publish(batch)
    },
    subscribe: (spec, onBatch) => inner.subscribe(spec, onBatch),
    close: () => inner.close(),
    deadLetters: inner.deadLetters,
  }
  const transport = claimCheckTransport(limited, { store })
  cleanups.push(() => transport.close())
  return { inner, limited, transport }
}

describe('claimCheckTransport', () => {
  it('moves a 10 MB body to the store, sends a reference, and hands the handler the whole event', async () => {
    const store = recordingStore()
    const { limited, transport } = smallTier(store)
    expect(transport.capabilities.maxPayloadBytes).toBe(32 * 1024 * 1024)
    const bus = createBus({ transport, source: 'test' })
    const Big = defineEvent('doc.stored', Doc)
    const got: Array<{ name: string; length: number; headers: Record<string, string> }> = []
    await bus.subscribe(
      Big,
      (e) => void got.push({ name: e.data.name, length: e.data.body.length, headers: e.headers }),
    )
    const body = 'x'.repeat(10 * 1024 * 1024)
    await bus.publish(Big, { name: 'big', body }, { headers: { tenant: 'acme' } })
    await bus.publish(Big, { name: 'small', body: 'tiny' })
    await eventually(() => got.length === 2, 'both events')
    expect(got.find((g) => g.name === 'big')).toEqual({ name: 'big', length: body.length, headers: { tenant: 'acme' } })
    // On the tier: the big one as a stub with a reference, the small one as is.
    const [stub, small] = limited.sent
    expect(stub?.data).toBeNull()
    expect(stub?.payloadref).toMatch(/^memory:[0-9a-f]{32}$/)
    expect(JSON.stringify(stub).length).toBeLessThan(1_000)
    expect(small?.data).toEqual({ name: 'small', body: 'tiny' })
    expect(store.asked).toHaveLength(1)
  })

  it('offloads above a threshold lower than the tier limit, and refuses bodies over its own maximum', async () => {
    const store = memoryPayloadStore()
    const inner = memoryTransport()
    const transport = claimCheckTransport(inner, { store, thresholdBytes: 1_000, maxPayloadBytes: 100_000 })
    cleanups.push(() => transport.close())
    const bus = createBus({ transport, source: 'test' })
    const E = defineEvent('doc.x', Doc)
    await bus.publish(E, { name: 'a', body: 'y'.repeat(500) })
    expect(store.size).toBe(0)
    await bus.publish(E, { name: 'b', body: 'y'.repeat(5_000) })
    expect(store.size).toBe(1)
    const err = await bus.publish(E, { name: 'c', body: 'y'.repeat(200_000) }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ValidationError)
    expect((err as Error).message).toContain('100000')
  })

  it('uses the limit of the route an event takes on a routed transport', async () => {
    const store = memoryPayloadStore()
    const roomy = memoryTransport()
    const tight = smallTier(memoryPayloadStore()).limited
    const transport = claimCheckTransport(
      routedTransport({
        routes: [
          { match: 'tight.>', transport: tight },
          { match: '>', transport: roomy },
        ],
      }),
      { store },
    )
    cleanups.push(() => transport.close())
    const bus = createBus({ transport, source: 'test' })
    await bus.publish(defineEvent('roomy.doc', Doc), { name: 'r', body: 'z'.repeat(10_000) })
    expect(store.size).toBe(0)
    await bus.publish(defineEvent('tight.doc', Doc), { name: 't', body: 'z'.repeat(10_000) })
    expect(store.size).toBe(1)
  })

  it.each([
    ['a URL', 'https://attacker.example/payload'],
    ['another store', 's3:0123456789abcdef0123456789abcdef'],
    ['a path', 'memory:../../etc/passwd'],
    ['a number', 42],
  ])('dead-letters a message whose reference is %s, without asking the store', async (_, ref) => {
    const store = recordingStore()
    const { inner, transport } = smallTier(store)
    const bus = createBus({ transport, source: 'test', onError: () => {} })
    let handled = 0
    await bus.subscribe('doc.>', () => void handled++, { group: 'g' })
    const forged: Envelope = {
      specversion: '1.0',
      id: newEventId(),
      source: 'evil',
      type: 'doc.forged',
      time: new Date().toISOString(),
      data: null,
      payloadref: ref,
    }
    await inner.publish([forged])
    await eventually(async () => (await transport.deadLetters?.list())?.length === 1, 'the dead letter')
    const [letter] = (await transport.deadLetters?.list()) ?? []
    expect(letter?.reason.kind).toBe('malformed')
    expect(letter?.reason.error).toMatch(
      /not a reference the memory payload store issued \(expected memory:<32 hex digits>\); not fetched/,
    )
    expect(store.asked).toEqual([])
    expect(handled).toBe(0)
  })

  it('dead-letters a reference whose body is gone, saying so', async () => {
    const store = recordingStore()
    const { inner, transport } = smallTier(store)
    const bus = createBus({ transport, source: 'test', onError: () => {} })
    await bus.subscribe('doc.>', () => {}, { group: 'g' })
    const dangling: Envelope = {
      specversion: '1.0',
      id: newEventId(),
      source: 'x',
      type: 'doc.gone',
      time: new Date().toISOString(),
      data: null,
      payloadref: 'memory:0123456789abcdef0123456789abcdef',
    }
    await inner.publish([dangling])
    await eventually(async () => (await transport.deadLetters?.list())?.length === 1, 'the dead letter')
    const [letter] = (await transport.deadLetters?.list()) ?? []
    expect(letter?.reason.error).toMatch(/no body under memory:0123456789abcdef0123456789abcdef \(expired or deleted/)
  })

  it('retries a delivery whose body cannot be fetched, and handles it once the store answers', async () => {
    const store = recordingStore()
    const { transport } = smallTier(store)
    const bus = createBus({ transport, source: 'test', onError: () => {} })
    const E = defineEvent('doc.flaky', Doc)
    const attempts: number[] = []
    await bus.subscribe(E, (e) => void attempts.push(e.attempt), { group: 'g', leaseMs: 60_000 })
    store.failGets = 1
    await bus.publish(E, { name: 'f', body: 'q'.repeat(10_000) })
    await eventually(() => attempts.length === 1, 'the event after the store recovers', { timeoutMs: 5_000 })
    expect(attempts).toEqual([2])
    await quietPeriod(100)
    expect(await transport.deadLetters?.list()).toEqual([])
  })

  it("refuses an event that already carries 'payloadref', and a store that is not one", async () => {
    expect(() =>
      claimCheckTransport(memoryTransport(), {
        store: { kind: 'S3!', put: async () => {}, get: async () => undefined },
      }),
    ).toThrow(ConfigError)
    const { transport } = smallTier(memoryPayloadStore())
    const env: Envelope = {
      specversion: '1.0',
      id: newEventId(),
      source: 's',
      type: 'doc.x',
      time: new Date().toISOString(),
      data: {},
      payloadref: 'memory:x',
    }
    await expect(transport.publish([env])).rejects.toThrow(/carries 'payloadref', which claim-check reserves/)
  })
})
