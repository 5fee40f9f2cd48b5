import {
  createBus,
  type Delivery,
  defineEvent,
  type Envelope,
  memoryTransport,
  newEventId,
  type SubscriptionSpec,
  type Transport,
  TransportError,
} from '@tierbus/core'
import { eventually } from '@tierbus/core/testing'
import { migratingTransport, PHASES, type Phase } from '@tierbus/migrator'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'

const Ping = defineEvent('mig.ping', z.object({ n: z.number() }))

/** A memory tier whose publish (`down`) or subscribe (`refuse`) can be made to fail, to simulate the tier being down. */
function flakyTier(): Transport & { down: boolean; refuse: boolean } {
  const inner = memoryTransport()
  const tier = {
    name: 'flaky',
    capabilities: inner.capabilities,
    deadLetters: inner.deadLetters,
    down: false,
    refuse: false,
    publish: (batch: readonly Envelope[]) =>
      tier.down ? Promise.reject(new Error('tier down')) : inner.publish(batch),
    subscribe: (spec: SubscriptionSpec, onBatch: (batch: Delivery[]) => Promise<void>) =>
      tier.refuse ? Promise.reject(new Error('subscribe refused')) : inner.subscribe(spec, onBatch),
    close: () => inner.close(),
  }
  return tier
}

function envelope(n: number, type = Ping.type): Envelope {
  return {
    specversion: '1.0',
    id: newEventId(),
    source: 'test',
    type,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data: { n },
  }
}

const SPEC: SubscriptionSpec = {
  pattern: Ping.type,
  group: 'g',
  startFrom: 'latest',
  maxInFlight: 4,
  leaseMs: 5_000,
  maxAttempts: 3,
  ordered: false,
  ephemeral: false,
}

describe('migrating transport', () => {
  it('walks every phase and a rollback under continuous publishing: every event handled exactly once per group', async () => {
    const source = memoryTransport()
    const target = memoryTransport()
    const transport = migratingTransport({ source, target, phase: 'source', shadowGraceMs: 100 })
    const bus = createBus({ transport, source: 'app', onError: () => {} })
    const handled = new Map<number, number>()
    await bus.subscribe(Ping, (e) => void handled.set(e.data.n, (handled.get(e.data.n) ?? 0) + 1), {
      group: 'agents',
      concurrency: 8,
      leaseMs: 2_000,
    })
    let n = 0
    let publishing = true
    const producer = (async () => {
      while (publishing) {
        await bus.publish(Ping, { n: n++ })
        await new Promise((r) => setTimeout(r, 1))
      }
    })()
    const walk: Phase[] = ['dual-write', 'shadow', 'cutover', 'shadow', 'cutover', 'target']
    for (const phase of walk) {
      const before = n
      await eventually(() => n >= before + 50, `50 events published in ${transport.phase}`)
      await transport.setPhase(phase)
      expect(transport.phase).toBe(phase)
    }
    const before = n
    await eventually(() => n >= before + 50, '50 events published in target')
    publishing = false
    await producer
    await eventually(
      () => handled.size === n,
      () => `all ${n} events handled, got ${handled.size}`,
      { timeoutMs: 20_000 },
    )
    const twice = [...handled].filter(([, count]) => count > 1)
    expect(twice).toEqual([])
    const shadow = transport.shadowReport().agents!
    expect(shadow.matched).toBeGreaterThan(0)
    // Copies delivered by both tiers around the cutover were skipped or deferred, never run twice.
    const stats = transport.stats()
    expect(stats.duplicatesSkipped + stats.duplicatesDeferred).toBeGreaterThan(0)
    expect([...handled].filter(([, count]) => count > 1)).toEqual([])
    await bus.close()
  })

  it('buffers writes the second tier refuses on the first tier, and the relay delivers them later', async () => {
    const source = memoryTransport()
    const target = flakyTier()
    const transport = migratingTransport({ source, target, phase: 'dual-write', onError: () => {} })
    const bus = createBus({ transport, source: 'app' })
    const onTarget: number[] = []
    const watcher = createBus({ transport: target, source: 'watch', closeTransport: false })
    await watcher.subscribe(Ping, (e) => void onTarget.push(e.data.n), { group: 'watch' })
    target.down = true
    await bus.publish(Ping, { n: 1 })
    expect(transport.stats().secondaryWriteFailures).toBe(1)
    await eventually(() => transport.stats().relayed === 0, 'relay retrying while the target is down')
    target.down = false
    await eventually(() => onTarget.includes(1), 'the buffered event to reach the target', { timeoutMs: 15_000 })
    expect(transport.stats().relayed).toBe(1)
    await watcher.close()
    await bus.close()
  })

  it('reports ids the target never delivered during shadow reading', async () => {
    const source = memoryTransport()
    const target = memoryTransport()
    const transport = migratingTransport({ source, target, phase: 'shadow', shadowGraceMs: 50 })
    const bus = createBus({ transport, source: 'app' })
    let handled = 0
    await bus.subscribe(Ping, () => void handled++, { group: 'g' })
    const sent = await bus.publish(Ping, { n: 1 })
    // An event written to the source only (as if the dual-write had missed it).
    const missed: Envelope = { ...sent, id: 'only-on-source' }
    await source.publish([missed])
    await eventually(() => handled === 2, 'both handled')
    await eventually(
      () => (transport.shadowReport().g?.sourceOnly.length ?? 0) === 1,
      'the missing id to be reported after the grace period',
    )
    const report = transport.shadowReport().g!
    expect(report.sourceOnly).toEqual(['only-on-source'])
    expect(report.targetOnly).toEqual([])
    expect(report.matched).toBe(1)
    await bus.close()
  })

  it('keeps the old phase and subscriptions when a re-subscribe fails, rejects with a TransportError, and a later setPhase works', async () => {
    const source = memoryTransport()
    const target = flakyTier()
    const transport = migratingTransport({ source, target, phase: 'dual-write', onError: () => {} })
    const bus = createBus({ transport, source: 'app', onError: () => {} })
    const handled: number[] = []
    await bus.subscribe(Ping, (e) => void handled.push(e.data.n), { group: 'agents' })
    target.refuse = true
    const err = await transport.setPhase('cutover').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TransportError)
    expect((err as Error).message).toMatch(/dual-write/)
    expect(transport.phase).toBe('dual-write')
    await bus.publish(Ping, { n: 1 })
    await eventually(() => handled.includes(1), 'the old subscription to keep handling')
    target.refuse = false
    await transport.setPhase('cutover')
    expect(transport.phase).toBe('cutover')
    await bus.publish(Ping, { n: 2 })
    await eventually(() => handled.includes(2), 'the switched subscription to handle')
    expect(handled.filter((n) => n === 2)).toHaveLength(1)
    await bus.close()
  })

  it('in cutover calls onBatch one batch at a time and keeps maxInFlight across both tiers', async () => {
    const source = memoryTransport()
    const target = memoryTransport()
    const transport = migratingTransport({ source, target, phase: 'cutover', onError: () => {} })
    let active = 0
    let maxActive = 0
    const held: Delivery[] = []
    let maxHeld = 0
    const acked = new Set<number>()
    const sub = await transport.subscribe(SPEC, async (batch) => {
      active++
      maxActive = Math.max(maxActive, active)
      held.push(...batch)
      maxHeld = Math.max(maxHeld, held.length)
      // Yield to the timers so the other tier's loop has a chance to call in while this one runs.
      await new Promise((r) => setTimeout(r, 2))
      active--
    })
    // Settle what the subscriber holds a little later, as a slow consumer would.
    const settler = setInterval(() => {
      for (const d of held.splice(0)) {
        acked.add((d.envelope!.data as { n: number }).n)
        void d.ack()
      }
    }, 10)
    try {
      // Different events on each tier, so both loops have work at the same time.
      await Promise.all([
        source.publish(Array.from({ length: 20 }, (_, i) => envelope(i))),
        target.publish(Array.from({ length: 20 }, (_, i) => envelope(100 + i))),
      ])
      await eventually(
        () => acked.size === 40,
        () => `all 40 events settled, got ${acked.size}`,
      )
      expect(maxActive).toBe(1)
      expect(maxHeld).toBeLessThanOrEqual(SPEC.maxInFlight)
    } finally {
      clearInterval(settler)
      await sub.close()
      await transport.close()
    }
  })

  it('lists at most limit dead letters across both tiers, oldest first', async () => {
    const source = memoryTransport()
    const target = memoryTransport()
    const transport = migratingTransport({ source, target, phase: 'cutover', onError: () => {} })
    const bury = async (tier: Transport, n: number) => {
      const sub = await tier.subscribe(SPEC, async (batch) => {
        for (const d of batch) await d.deadLetter({ kind: 'handler-failed', error: `failed ${n}`, attempts: 1 })
      })
      await tier.publish([envelope(n)])
      await eventually(async () => (await tier.deadLetters!.list()).length > 0, 'the dead letter written')
      await sub.close()
    }
    // Interleaved in time: source 0, target 1, source 2, target 3, ...
    for (let n = 0; n < 6; n++) {
      await bury(n % 2 === 0 ? source : target, n)
      await new Promise((r) => setTimeout(r, 2)) // distinct failedAt timestamps (ms resolution)
    }
    const listed = await transport.deadLetters!.list({ limit: 3 })
    expect(listed.map((d) => d.reason.error)).toEqual(['failed 0', 'failed 1', 'failed 2'])
    await transport.close()
  })

  it('declares only what both tiers can do', () => {
    const t = migratingTransport({
      source: memoryTransport(),
      target: {
        ...memoryTransport(),
        capabilities: { persistent: true, replay: false, ordering: 'none', delay: false, maxPayloadBytes: 262_144 },
      } as Transport,
      phase: 'source',
    })
    expect(t.capabilities).toEqual({
      persistent: false,
      replay: false,
      ordering: 'none',
      delay: false,
      maxPayloadBytes: 262_144,
    })
    expect(PHASES).toHaveLength(5)
  })
})
