import { createHook } from 'node:async_hooks'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createBus, defineEvent, memoryTransport } from '../src/index.js'
import { eventually, uniqueToken } from '../src/testing/index.js'

const Item = z.object({ n: z.number().int(), key: z.string() })

/**
 * Timers created while `fn` runs that are still live afterwards. Counted with async hooks, because
 * `process.getActiveResourcesInfo()` does not list unref'd timers, and the heartbeat is unref'd.
 */
async function timersLeftBy(fn: () => Promise<void>): Promise<number> {
  const live = new Set<number>()
  const hook = createHook({
    init: (id, type) => void (type === 'Timeout' && live.add(id)),
    destroy: (id) => void live.delete(id),
  })
  hook.enable()
  try {
    await fn()
    // Let timers that fire once (eventually's polls, close deadlines) run out and be destroyed.
    await new Promise((r) => setTimeout(r, 50))
    await new Promise((r) => setImmediate(r))
  } finally {
    hook.disable()
  }
  return live.size
}

describe('consumer timers', () => {
  it('leaves no heartbeat interval behind: 50 buses used and closed add no live timers', async () => {
    const E = defineEvent(`${uniqueToken('hb')}.item`, Item)
    const left = await timersLeftBy(async () => {
      for (let i = 0; i < 50; i++) {
        const bus = createBus({ transport: memoryTransport(), source: 'timers-test', onError: () => {} })
        let handled = 0
        await bus.subscribe(E, () => void handled++, { group: 'g' })
        await bus.publish(E, { n: i, key: 'k' })
        await eventually(() => handled === 1, 'the event to be handled')
        await bus.close({ timeoutMs: 1_000 })
      }
    })
    expect(left).toBe(0)
  })

  it('retries more than 10 ordered events in place without a MaxListenersExceeded warning', async () => {
    const warnings: string[] = []
    const onWarning = (w: Error) => void warnings.push(`${w.name}: ${w.message}`)
    process.on('warning', onWarning)
    try {
      const E = defineEvent(`${uniqueToken('ord')}.item`, Item)
      const bus = createBus({
        transport: memoryTransport(),
        source: 'timers-test',
        retry: { backoff: { baseMs: 50, maxMs: 50 } },
        onError: () => {},
      })
      const failed = new Set<string>()
      const done = new Set<string>()
      await bus.subscribe(
        E,
        (e) => {
          if (!failed.has(e.data.key)) {
            failed.add(e.data.key)
            throw new Error('transient')
          }
          done.add(e.data.key)
        },
        { group: 'ordered', ordered: true, concurrency: 20 },
      )
      for (let n = 0; n < 15; n++) await bus.publish(E, { n, key: `k${n}` }, { key: `k${n}` })
      await eventually(
        () => done.size === 15,
        () => `15 keys done, got ${done.size}`,
      )
      await bus.close({ timeoutMs: 1_000 })
      await new Promise((r) => setImmediate(r))
      expect(warnings.filter((w) => w.includes('MaxListeners'))).toEqual([])
    } finally {
      process.off('warning', onWarning)
    }
  })
})
