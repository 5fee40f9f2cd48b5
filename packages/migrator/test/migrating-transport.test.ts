import { createBus, defineEvent, memoryTransport, type Envelope, type Transport } from '@tierbus/core'
import { eventually } from '@tierbus/core/testing'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { migratingTransport, PHASES, type Phase } from '@tierbus/migrator'

const Ping = defineEvent('mig.ping', z.object({ n: z.number() }))

/** A memory tier whose publish can be made to fail, to simulate the second tier being down. */
function flakyTier(): Transport & { down: boolean } {
  const inner = memoryTransport()
  const tier = {
    name: 'flaky',
    capabilities: inner.capabilities,
    deadLetters: inner.deadLetters,
    down: false,
    publish: (batch: readonly Envelope[]) => (tier.down ? Promise.reject(new Error('tier down')) : inner.publish(batch)),
    subscribe: inner.subscribe.bind(inner),
    close: () => inner.close(),
  }
  return tier
}

describe('migrating transport', () => {
  it('walks every phase and a rollback under continuous publishing: every event handled exactly once per group', async () => {
    const source = memoryTransport()
    const target = memoryTransport()
    const transport = migratingTransport({ source, target, phase: 'source', shadowGraceMs: 100 })
    const bus = createBus({ transport, source: 'app', onError: () => {} })
    const handled = new Map<number, number>()
    await bus.subscribe(Ping, (e) => void handled.set(e.data.n, (handled.get(e.data.n) ?? 0) + 1), { group: 'agents', concurrency: 8, leaseMs: 2_000 })
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
    await eventually(() => handled.size === n, () => `all ${n} events handled, got ${handled.size}`, { timeoutMs: 20_000 })
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
    await eventually(() => (transport.shadowReport().g?.sourceOnly.length ?? 0) === 1, 'the missing id to be reported after the grace period')
    const report = transport.shadowReport().g!
    expect(report.sourceOnly).toEqual(['only-on-source'])
    expect(report.targetOnly).toEqual([])
    expect(report.matched).toBe(1)
    await bus.close()
  })

  it('declares only what both tiers can do', () => {
    const t = migratingTransport({ source: memoryTransport(), target: { ...memoryTransport(), capabilities: { persistent: true, replay: false, ordering: 'none', delay: false, maxPayloadBytes: 262_144 } } as Transport, phase: 'source' })
    expect(t.capabilities).toEqual({ persistent: false, replay: false, ordering: 'none', delay: false, maxPayloadBytes: 262_144 })
    expect(PHASES).toHaveLength(5)
  })
})
