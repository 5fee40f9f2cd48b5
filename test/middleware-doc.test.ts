import { createBus, defineEvent, type Middleware, memoryTransport, type ReceivedEvent } from '@tierbus/core'
import { eventually } from '@tierbus/core/testing'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { docExample, withDocModule } from './doc-example.js'

interface Examples {
  logging(log: (line: string) => void): Middleware
  timing(record: (type: string, ms: number, ok: boolean) => void): Middleware
  skipPoison(
    isPoison: (event: ReceivedEvent<unknown>) => boolean,
    onSkip: (event: ReceivedEvent<unknown>) => void,
  ): Middleware
}

const OrderPlaced = defineEvent('order.placed', z.object({ orderId: z.string() }))

describe('docs/middleware.md', () => {
  it('has logging, timing and poison-skip examples that type-check as written and do what the doc says', async () => {
    await withDocModule(docExample('docs/middleware.md', '<!-- middleware-example'), async (diagnostics, load) => {
      expect(diagnostics).toEqual([])
      const { logging, timing, skipPoison } = (await load()) as Examples
      const lines: string[] = []
      const timings: Array<[string, boolean]> = []
      const skipped: string[] = []
      const handled: string[] = []
      const bus = createBus({ transport: memoryTransport(), source: 'shop/api' })
      bus.use(
        logging((line) => lines.push(line)),
        timing((type, ms, ok) => {
          expect(ms).toBeGreaterThanOrEqual(0)
          timings.push([type, ok])
        }),
      )
      await bus.subscribe(
        OrderPlaced,
        (e) => {
          if (e.data.orderId === 'flaky' && e.attempt === 1) throw new Error('try again')
          handled.push(e.data.orderId)
        },
        {
          group: 'billing',
          retry: { attempts: 2, backoff: { baseMs: 1, maxMs: 2 } },
          middleware: [
            skipPoison(
              (e) => (e.data as { orderId: string }).orderId === 'poison',
              (e) => skipped.push(e.id),
            ),
          ],
        },
      )
      const ok = await bus.publish(OrderPlaced, { orderId: 'ok' })
      const poison = await bus.publish(OrderPlaced, { orderId: 'poison' })
      const flaky = await bus.publish(OrderPlaced, { orderId: 'flaky' })
      await eventually(
        () => lines.filter((l) => l.startsWith('billing')).length === 4,
        () => lines.join('\n'),
      )
      await bus.close()

      expect(lines.filter((l) => l.startsWith('published'))).toEqual(
        [ok, poison, flaky].map((e) => `published order.placed ${e.id} on memory`),
      )
      expect(lines.filter((l) => l.startsWith('billing')).sort()).toEqual(
        [
          `billing order.placed ${ok.id} attempt 1: acked`,
          `billing order.placed ${poison.id} attempt 1: acked`,
          `billing order.placed ${flaky.id} attempt 1: retried`,
          `billing order.placed ${flaky.id} attempt 2: acked`,
        ].sort(),
      )
      expect(skipped).toEqual([poison.id])
      expect(handled.sort()).toEqual(['flaky', 'ok'])
      // Timing wraps the skip too (it is outside the subscription's middleware): 4 runs, one threw.
      expect(timings.filter(([, ok]) => !ok)).toHaveLength(1)
      expect(timings).toHaveLength(4)
    })
  }, 120_000)
})
