import { createBus, defineEvent } from '@tierbus/core'
import { eventually, uniqueToken } from '@tierbus/core/testing'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { closeConnectionsNamed, isolatedTransport } from './helpers.js'

describe("AMQP connection closed by the broker (rabbitmqctl close_connection on this test's connection only)", () => {
  it('reconnects by itself, re-opens the consumer, and loses none of what was published under load', async () => {
    const states: string[] = []
    const connectionName = `tierbus-test-${uniqueToken('rc')}`
    const transport = await isolatedTransport({
      connectionName,
      publishTimeoutMs: 5_000,
      reconnectBackoff: { initialDelayMs: 100, maxDelayMs: 1_000 },
      onConnectionState: (s) => void states.push(s),
    })
    const bus = createBus({ transport, source: 'reconnect-test', onError: () => {} })
    const Tick = defineEvent(`${uniqueToken('r')}.tick`, z.object({ n: z.number().int() }))
    const handled = new Set<number>()
    const resolved: number[] = []
    const failed: unknown[] = []
    try {
      await bus.subscribe(Tick, (e) => void handled.add(e.data.n), { group: 'survivors', concurrency: 8 })
      let stop = false
      const publisher = (async () => {
        for (let n = 0; !stop; n++) {
          await bus.publish(Tick, { n }).then(
            () => resolved.push(n),
            (err: unknown) => failed.push(err),
          )
          await new Promise((r) => setTimeout(r, 10))
        }
      })()
      await eventually(() => handled.size >= 20, 'events handled before the kill')
      const mark = states.length
      expect(closeConnectionsNamed(connectionName)).toBe(1)
      await eventually(
        () => states.slice(mark).includes('down') && states.at(-1) === 'up',
        () => `a reconnect (states: ${states.join(' ')})`,
        { timeoutMs: 30_000 },
      )
      const after = resolved.length
      await eventually(() => resolved.length >= after + 50, 'publishes to go on after the reconnect', {
        timeoutMs: 30_000,
      })
      stop = true
      await publisher
      await eventually(
        () => resolved.every((n) => handled.has(n)),
        () =>
          `every published event handled: missing ${resolved
            .filter((n) => !handled.has(n))
            .slice(0, 10)
            .join(', ')}`,
        { timeoutMs: 30_000 },
      )
      // A publish in flight when the connection went may reject (retryable); none hangs, and the rest went through.
      for (const err of failed) expect((err as { retryable?: boolean }).retryable, String(err)).toBe(true)
    } finally {
      await bus.close()
    }
  }, 90_000)
})
