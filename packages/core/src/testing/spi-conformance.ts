import { afterEach, describe, expect, it } from 'vitest'
import type { Envelope } from '../envelope.js'
import { TierbusError } from '../errors.js'
import { newEventId } from '../ids.js'
import type { Delivery, Subscription, SubscriptionSpec, Transport } from '../transport.js'
import { eventually, quietPeriod, uniqueToken } from './eventually.js'

/** What the SPI section needs from `runTransportConformance`'s options. */
export interface SpiConformanceOptions {
  readonly timeoutMs: number
  readonly leaseMs: number
  readonly quietMs: number
}

/** How long `close()` may take while a fetch (a long poll) is pending: far below any tier's poll length. */
const PROMPT_CLOSE_MS = 3_000

/**
 * The SPI section of the conformance suite: drives `Transport.subscribe` / `publish` directly, without
 * a Bus, so a tier is held to the SPI's guarantees themselves (Watermill's universal tests: no-ack,
 * concurrent close, continue after errors).
 */
export function describeSpiConformance(
  name: string,
  factory: () => Promise<Transport>,
  options: SpiConformanceOptions,
): void {
  const { timeoutMs, leaseMs, quietMs } = options
  const wait = (cond: () => boolean, what: string | (() => string)) => eventually(cond, what, { timeoutMs })
  const caseTimeout = timeoutMs * 2 + leaseMs * 4

  describe(`transport SPI conformance: ${name}`, () => {
    const cleanups: Array<() => Promise<void> | void> = []
    afterEach(async () => {
      while (cleanups.length) await cleanups.pop()!()
    })

    async function setup() {
      const transport = await factory()
      let closed = false
      const close = async () => {
        if (closed) return
        closed = true
        await transport.close()
      }
      cleanups.push(close)
      const type = `${uniqueToken('spi')}.item`
      const envelope = (n: number): Envelope => ({
        specversion: '1.0',
        id: newEventId(),
        source: `conformance/${name}`,
        type,
        time: new Date().toISOString(),
        datacontenttype: 'application/json',
        data: { n },
      })
      const publish = (...ns: number[]) => transport.publish(ns.map(envelope))
      const spec = (overrides: Partial<SubscriptionSpec> = {}): SubscriptionSpec => ({
        pattern: type,
        group: 'spi',
        startFrom: 'latest',
        maxInFlight: 4,
        leaseMs,
        maxAttempts: 5,
        ordered: false,
        ephemeral: false,
        ...overrides,
      })
      const subscribe = async (
        s: SubscriptionSpec,
        onBatch: (batch: Delivery[]) => Promise<void>,
      ): Promise<Subscription> => {
        const sub = await transport.subscribe(s, onBatch)
        cleanups.push(() => sub.close())
        return sub
      }
      return { transport, close, publish, spec, subscribe }
    }

    const nOf = (d: Delivery): number => {
      if (!d.envelope) throw new Error('a delivery without an envelope (malformed) where a valid event was published')
      return (d.envelope.data as { n: number }).n
    }

    it(
      'never calls onBatch concurrently and keeps unsettled deliveries within maxInFlight',
      async () => {
        const { publish, spec, subscribe } = await setup()
        let active = 0
        let maxActive = 0
        let unsettled = 0
        let maxUnsettled = 0
        const acked = new Set<number>()
        await subscribe(spec({ maxInFlight: 3 }), async (batch) => {
          maxActive = Math.max(maxActive, ++active)
          unsettled += batch.length
          maxUnsettled = Math.max(maxUnsettled, unsettled)
          await new Promise((r) => setTimeout(r, 10))
          active--
          // Settled after onBatch returned: the transport must count them as in flight until then.
          for (const d of batch) {
            setTimeout(() => {
              unsettled--
              void d.ack().then(() => acked.add(nOf(d)))
            }, 20)
          }
        })
        await publish(...Array.from({ length: 15 }, (_, n) => n))
        await wait(
          () => acked.size === 15,
          () => `15 acked, got ${acked.size}`,
        )
        expect(maxActive).toBe(1)
        expect(maxUnsettled).toBeLessThanOrEqual(3)
      },
      caseTimeout,
    )

    it(
      'survives onBatch rejecting: timers keep firing, later events arrive, the rejected one comes back after the lease',
      async () => {
        const { publish, spec, subscribe } = await setup()
        const seen: Array<{ n: number; attempt: number }> = []
        let rejected = false
        // One slot: a slot leaked by the rejection would stop intake (or spin the loop) for good.
        await subscribe(spec({ maxInFlight: 1 }), async (batch) => {
          if (!rejected) {
            rejected = true
            throw new Error('onBatch failed (e.g. a dedup store blip)')
          }
          for (const d of batch) {
            seen.push({ n: nOf(d), attempt: d.attempt })
            await d.ack()
          }
        })
        await publish(0)
        await wait(() => rejected, 'the first onBatch call')
        // A starved event loop (a loop spinning on resolved promises) never runs this timer.
        let timerFired = false
        setTimeout(() => (timerFired = true), 10)
        await publish(1)
        await wait(() => timerFired, 'a timer scheduled after the rejection to fire')
        await wait(
          () => seen.some((s) => s.n === 1),
          () => `the later event, got ${JSON.stringify(seen)}`,
        )
        await wait(
          () => seen.some((s) => s.n === 0),
          () => `the rejected event after its lease, got ${JSON.stringify(seen)}`,
        )
        expect(seen.find((s) => s.n === 0)!.attempt).toBeGreaterThanOrEqual(2)
      },
      caseTimeout,
    )

    it(
      'treats a second settle, and settles after the transport closed, as no-ops',
      async () => {
        const { transport, close, publish, spec, subscribe } = await setup()
        const got: Delivery[] = []
        await subscribe(spec({ maxInFlight: 2 }), async (batch) => void got.push(...batch))
        await publish(1)
        await wait(() => got.length === 1, 'the first delivery')
        const first = got[0]!
        await first.ack()
        await first.ack()
        await first.retry(0)
        await first.deadLetter({ kind: 'handler-failed', error: 'late', attempts: 1 })
        await first.touch?.()
        await quietPeriod(leaseMs + quietMs)
        // The first settle (ack) won: the event is neither redelivered nor dead-lettered.
        expect(got.map((d) => [nOf(d), d.attempt])).toEqual([[1, 1]])
        if (transport.deadLetters) expect(await transport.deadLetters.list({ group: 'spi' })).toEqual([])
        await publish(2)
        await wait(() => got.length === 2, 'the second delivery')
        const second = got[1]!
        await close()
        await second.ack()
        await second.retry(0)
        await second.deadLetter({ kind: 'handler-failed', error: 'after close', attempts: 1 })
        await second.touch?.()
      },
      caseTimeout,
    )

    it(
      'rejects publish after close with a TierbusError',
      async () => {
        const { close, publish } = await setup()
        await close()
        const err = await publish(1).then(
          () => undefined,
          (e: unknown) => e,
        )
        expect(err).toBeInstanceOf(TierbusError)
      },
      caseTimeout,
    )

    it(
      'resolves close() promptly while a fetch is pending, and hands nothing out after it',
      async () => {
        const { publish, spec, subscribe } = await setup()
        const got: number[] = []
        const sub = await subscribe(spec(), async (batch) => {
          for (const d of batch) {
            got.push(nOf(d))
            await d.ack()
          }
        })
        // Let the subscription start a (long-polling) fetch.
        await quietPeriod(100)
        const started = Date.now()
        await sub.close()
        expect(Date.now() - started).toBeLessThan(PROMPT_CLOSE_MS)
        await publish(1)
        await quietPeriod(quietMs)
        expect(got).toEqual([])
      },
      caseTimeout,
    )

    it(
      'hands an unsettled delivery out again after leaseMs with attempt + 1',
      async () => {
        const { publish, spec, subscribe } = await setup()
        const attempts: Array<{ attempt: number; at: number }> = []
        await subscribe(spec({ maxInFlight: 2 }), async (batch) => {
          for (const d of batch) {
            attempts.push({ attempt: d.attempt, at: Date.now() })
            // The first delivery is never settled (no ack); the redelivery is acked.
            if (attempts.length > 1) await d.ack()
          }
        })
        await publish(1)
        await wait(() => attempts.length >= 2, 'the redelivery after the lease')
        const [first, again] = attempts as [(typeof attempts)[0], (typeof attempts)[0]]
        expect(again.attempt).toBe(first.attempt + 1)
        expect(again.at - first.at).toBeGreaterThanOrEqual(leaseMs / 2)
      },
      caseTimeout,
    )

    it(
      'continues after handler errors: retried deliveries come back until acked, none lost',
      async () => {
        const { publish, spec, subscribe } = await setup()
        const acked = new Map<number, number>()
        await subscribe(spec({ maxInFlight: 5 }), async (batch) => {
          for (const d of batch) {
            if (d.attempt < 3) await d.retry(0)
            else {
              await d.ack()
              acked.set(nOf(d), d.attempt)
            }
          }
        })
        await publish(0, 1, 2, 3, 4)
        await wait(
          () => acked.size === 5,
          () => `5 acked on attempt 3, got ${JSON.stringify([...acked])}`,
        )
        expect([...acked.values()]).toEqual([3, 3, 3, 3, 3])
      },
      caseTimeout,
    )
  })
}
