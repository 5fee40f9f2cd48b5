import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { type Bus, type BusOptions, createBus } from '../bus.js'
import { type Envelope, encodeEnvelope } from '../envelope.js'
import { TimeoutError, ValidationError } from '../errors.js'
import { defineEvent } from '../events.js'
import { deadLetterBody } from '../raw-body.js'
import type { ReceivedEvent } from '../received.js'
import type { Capabilities, Transport } from '../transport.js'
import { eventually, gate, quietPeriod, uniqueToken } from './eventually.js'
import { describeSpiConformance } from './spi-conformance.js'

/** Builds a transport on a fresh, isolated namespace (own schema / key prefix / queue names). */
export type TransportFactory = () => Promise<Transport>

/** Options of `runTransportConformance`. */
export interface ConformanceOptions {
  /** The capabilities the transport declares; cases they exclude are skipped by name. */
  capabilities: Capabilities
  /**
   * Writes an undecodable message straight into the tier, where subscribers of `type` will receive it
   * (e.g. a garbage stream entry or row). Without it the malformed-message case is skipped.
   */
  injectRaw?: (transport: Transport, type: string, raw: string) => Promise<void>
  /** Like `injectRaw`, with bytes that need not be UTF-8, for tiers that carry bytes. Without it the exact-bytes case is skipped. */
  injectBytes?: (transport: Transport, type: string, bytes: Uint8Array) => Promise<void>
  /** Deadline of each wait, ms (default 15,000; raise for slow emulators). */
  timeoutMs?: number
  /** Lease of the crash-recovery case, ms (default 1,000). */
  leaseMs?: number
  /** How long "nothing else arrives" checks wait, ms (default 300). */
  quietMs?: number
}

/** Defaults of `ConformanceOptions`. */
export const CONFORMANCE_DEFAULTS = Object.freeze({ timeoutMs: 15_000, leaseMs: 1_000, quietMs: 300 })

const Item = z.object({ n: z.number().int(), key: z.string().optional(), pad: z.string().optional() })
type ItemData = z.infer<typeof Item>

/**
 * The transport conformance suite (modelled on Watermill's universal pub/sub tests): every tier runs
 * these same cases against its real backing service. Call it inside a test file:
 * `runTransportConformance('redis', () => makeTransport(), { capabilities: REDIS_CAPABILITIES })`.
 */
export function runTransportConformance(name: string, factory: TransportFactory, options: ConformanceOptions): void {
  const caps = options.capabilities
  const timeoutMs = options.timeoutMs ?? CONFORMANCE_DEFAULTS.timeoutMs
  const leaseMs = options.leaseMs ?? CONFORMANCE_DEFAULTS.leaseMs
  const quietMs = options.quietMs ?? CONFORMANCE_DEFAULTS.quietMs
  const wait = (cond: () => boolean, what: string | (() => string)) => eventually(cond, what, { timeoutMs })
  const caseTimeout = timeoutMs * 2 + leaseMs * 4

  describeSpiConformance(name, factory, { timeoutMs, leaseMs, quietMs })

  describe(`transport conformance: ${name}`, () => {
    const cleanups: Array<() => Promise<void> | void> = []
    afterEach(async () => {
      while (cleanups.length) await cleanups.pop()!()
    })

    /** A fresh transport plus a bus factory over it; all closed after the case. */
    async function setup() {
      const transport = await factory()
      cleanups.push(() => transport.close())
      const prefix = uniqueToken('c')
      const bus = (overrides: Partial<BusOptions> = {}): Bus => {
        const b = createBus({
          transport,
          source: `conformance/${name}`,
          closeTransport: false,
          retry: { backoff: { baseMs: 20, maxMs: 100 } },
          onError: () => {},
          ...overrides,
        })
        cleanups.push(() => b.close({ timeoutMs: 1_000 }))
        return b
      }
      const event = (suffix = 'item') => defineEvent(`${prefix}.${suffix}`, Item)
      return { transport, bus, event, prefix }
    }

    const skip = (reason: string | false) => (reason ? ` [skipped: ${reason}]` : '')
    const caseIf = (reason: string | false, title: string, fn: () => Promise<void>) =>
      it.skipIf(Boolean(reason))(`${title}${skip(reason)}`, fn, caseTimeout)

    it('declares the capabilities the suite was given', async () => {
      const { transport } = await setup()
      expect(transport.capabilities).toEqual(caps)
      expect(typeof transport.name).toBe('string')
    })

    it('delivers a published event with its data, key, headers and CloudEvents envelope', async () => {
      const { bus, event } = await setup()
      const E = event()
      const b = bus()
      const got: ReceivedEvent<ItemData>[] = []
      await b.subscribe(E, (e) => void got.push(e), { group: 'g' })
      const sent = await b.publish(E, { n: 1 }, { key: 'k1', headers: { tenant: 'acme' }, correlationId: 'corr-1' })
      await wait(() => got.length === 1, 'one delivery')
      const e = got[0]!
      expect(e.data).toEqual({ n: 1 })
      expect(e.id).toBe(sent.id)
      expect(e.type).toBe(E.type)
      expect(e.subject).toBe('k1')
      expect(e.headers).toEqual({ tenant: 'acme' })
      expect(e.attempt).toBe(1)
      expect(e.envelope).toMatchObject({
        specversion: '1.0',
        source: `conformance/${name}`,
        datacontenttype: 'application/json',
        correlationid: 'corr-1',
      })
      expect(Date.parse(e.time)).not.toBeNaN()
    })

    it('publishes a batch and delivers every event of it', async () => {
      const { bus, event } = await setup()
      const E = event()
      const b = bus()
      const seen = new Set<number>()
      await b.subscribe(E, (e) => void seen.add(e.data.n), { group: 'g', concurrency: 16 })
      await b.publishBatch(
        E,
        Array.from({ length: 50 }, (_, n) => ({ n })),
      )
      await wait(
        () => seen.size === 50,
        () => `50 distinct events, got ${seen.size}`,
      )
    })

    it('fans out every event to each of 3 groups', async () => {
      const { bus, event } = await setup()
      const E = event()
      const b = bus()
      const byGroup = new Map<string, number[]>()
      for (const g of ['g1', 'g2', 'g3']) {
        byGroup.set(g, [])
        await b.subscribe(E, (e) => void byGroup.get(g)!.push(e.data.n), { group: g })
      }
      await b.publishBatch(
        E,
        Array.from({ length: 10 }, (_, n) => ({ n })),
      )
      await wait(() => [...byGroup.values()].every((l) => l.length >= 10), 'each group to get 10')
      await quietPeriod(quietMs)
      for (const list of byGroup.values())
        expect([...list].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    })

    it('shares events among competing consumers of one group, each event handled once', async () => {
      const { bus, event } = await setup()
      const E = event()
      const handled: Array<[string, number]> = []
      const b1 = bus()
      const b2 = bus()
      await b1.subscribe(E, (e) => void handled.push(['a', e.data.n]), { group: 'workers', concurrency: 4 })
      await b2.subscribe(E, (e) => void handled.push(['b', e.data.n]), { group: 'workers', concurrency: 4 })
      await b1.publishBatch(
        E,
        Array.from({ length: 40 }, (_, n) => ({ n })),
      )
      await wait(
        () => handled.length >= 40,
        () => `40 handled, got ${handled.length}`,
      )
      await quietPeriod(quietMs)
      expect(handled).toHaveLength(40)
      expect(new Set(handled.map(([, n]) => n)).size).toBe(40)
    })

    it('retries a failing handler with backoff, then succeeds on attempt 3', async () => {
      const { bus, event } = await setup()
      const E = event()
      const b = bus()
      const attempts: number[] = []
      let done = false
      await b.subscribe(
        E,
        (e) => {
          attempts.push(e.attempt)
          if (e.attempt < 3) throw new Error(`transient ${e.attempt}`)
          done = true
        },
        { group: 'g', retry: { attempts: 5 } },
      )
      await b.publish(E, { n: 1 })
      await wait(() => done, 'the third attempt to succeed')
      expect(attempts).toEqual([1, 2, 3])
      const m = b.metrics()
      expect(m.totals.retried).toBe(2)
      expect(m.totals.acked).toBe(1)
      expect(m.totals.deadLettered).toBe(0)
    })

    caseIf(false, 'dead-letters after 3 failed attempts with the last error, and redrives it', async () => {
      const { bus, event, transport } = await setup()
      if (!transport.deadLetters)
        throw new Error(`${name} has no deadLetters store: every tier must let users read its DLQ`)
      const E = event()
      const b = bus()
      const attempts: number[] = []
      let healthy = false
      await b.subscribe(
        E,
        (e) => {
          attempts.push(e.attempt)
          if (!healthy) throw new Error(`boom on attempt ${e.attempt}`)
        },
        { group: 'dlq-g', retry: { attempts: 3 } },
      )
      const sent = await b.publish(E, { n: 7 })
      let dead: Awaited<ReturnType<NonNullable<Transport['deadLetters']>['list']>> = []
      await eventually(
        async () => {
          dead = await transport.deadLetters!.list({ group: 'dlq-g' })
          return dead.length === 1
        },
        'one dead letter',
        { timeoutMs, intervalMs: 50 },
      )
      expect(attempts).toEqual([1, 2, 3])
      const d = dead[0]!
      expect(d.group).toBe('dlq-g')
      expect(d.envelope?.id).toBe(sent.id)
      expect(d.reason).toMatchObject({ kind: 'handler-failed', attempts: 3 })
      expect(d.reason.error).toContain('boom on attempt 3')
      // The tier may show the dead letter a moment before deadLetter() returns (and the bus counts it).
      await wait(() => b.metrics().totals.deadLettered === 1, 'the dead letter to be counted')
      expect(b.metrics().totals.deadLetteredByKind).toEqual({ 'handler-failed': 1 })
      healthy = true
      expect(await transport.deadLetters.redrive([d.id])).toBe(1)
      await wait(() => attempts.length === 4, 'the redriven event to be handled')
      expect(attempts[3]).toBe(1)
      await eventually(
        async () => (await transport.deadLetters!.list({ group: 'dlq-g' })).length === 0,
        'the DLQ to be empty after redrive',
        { timeoutMs, intervalMs: 50 },
      )
    })

    it('dead-letters a schema-invalid payload at once, without retrying, and keeps consuming', async () => {
      const { bus, event, transport } = await setup()
      const E = event()
      const b = bus()
      const handled: number[] = []
      await b.subscribe(E, (e) => void handled.push(e.data.n), { group: 'g' })
      const bad: Envelope = {
        specversion: '1.0',
        id: uniqueToken('bad'),
        source: 'rogue',
        type: E.type,
        time: new Date().toISOString(),
        datacontenttype: 'application/json',
        data: { n: 'not a number' },
      }
      await transport.publish([bad])
      await b.publish(E, { n: 2 })
      await wait(
        () => handled.length === 1 && b.metrics().totals.deadLettered === 1,
        'the valid event handled and the invalid one dead-lettered',
      )
      expect(handled).toEqual([2])
      expect(b.metrics().totals.deadLetteredByKind).toEqual({ 'invalid-payload': 1 })
      expect(transport.deadLetters, `${name} has no deadLetters store`).toBeDefined()
      {
        const dead = await transport.deadLetters!.list({ group: 'g' })
        expect(dead).toHaveLength(1)
        expect(dead[0]!.reason.kind).toBe('invalid-payload')
        expect(dead[0]!.reason.attempts).toBe(1)
        expect(dead[0]!.reason.error).toContain('n')
      }
    })

    caseIf(
      options.injectRaw ? false : 'no injectRaw given',
      'dead-letters an undecodable message with the reason and keeps consuming',
      async () => {
        const { bus, event, transport } = await setup()
        const E = event()
        const b = bus()
        const handled: number[] = []
        await b.subscribe(E, (e) => void handled.push(e.data.n), { group: 'g' })
        await options.injectRaw!(transport, E.type, '{"this is": not json')
        await b.publish(E, { n: 3 })
        await wait(
          () => handled.length === 1 && b.metrics().totals.deadLettered === 1,
          'the valid event handled and the garbage dead-lettered',
        )
        expect(b.metrics().totals.deadLetteredByKind).toEqual({ malformed: 1 })
        expect(transport.deadLetters, `${name} has no deadLetters store`).toBeDefined()
        {
          const dead = await transport.deadLetters!.list({ group: 'g' })
          expect(dead).toHaveLength(1)
          expect(dead[0]!.reason.kind).toBe('malformed')
          expect(dead[0]!.raw ?? '').toContain('this is')
        }
      },
    )

    caseIf(
      options.injectBytes ? false : 'no injectBytes given',
      'dead-letters 64 random bytes as malformed and lists them byte for byte',
      async () => {
        const { bus, event, transport } = await setup()
        const E = event()
        const b = bus()
        await b.subscribe(E, () => {}, { group: 'g' })
        // Not valid UTF-8 (a lone continuation byte first), so a tier that keeps text would have to replace bytes.
        const bytes = new Uint8Array([0x80, ...crypto.getRandomValues(new Uint8Array(63))])
        await options.injectBytes!(transport, E.type, bytes)
        await wait(() => b.metrics().totals.deadLettered === 1, 'the random bytes to be dead-lettered')
        const dead = await transport.deadLetters!.list({ group: 'g' })
        expect(dead).toHaveLength(1)
        expect(dead[0]!.reason.kind).toBe('malformed')
        expect(dead[0]!.reason.error).not.toBe('')
        expect(Buffer.from(deadLetterBody(dead[0]!) ?? new Uint8Array()).equals(Buffer.from(bytes))).toBe(true)
      },
    )

    it('publish rejects a type or replyto outside the grammar with a ValidationError, and delivers none of it', async () => {
      const { bus, event, transport } = await setup()
      const E = event()
      const b = bus()
      const got: Array<{ id: string; replyto?: string }> = []
      await b.subscribe(E.type, (e) => void got.push({ id: e.id }), { group: 'g' })
      const base: Envelope = {
        specversion: '1.0',
        id: 'x',
        source: 'direct',
        type: E.type,
        time: new Date().toISOString(),
        datacontenttype: 'application/json',
        data: { n: 1 },
      }
      const forged: Array<Partial<Envelope>> = [
        { type: `${E.type}\r\nPUB $JS.API.STREAM.DELETE.X 0\r\n\r\n` },
        { type: `${E.type} stolen` },
        { type: `${E.type}\t` },
        { type: `${E.type}\u0000` },
        { type: '_inbox.not-an-inbox' },
        { replyto: '_inbox.x\r\nPUB $JS.API.STREAM.DELETE.X 0\r\n\r\n' },
        { replyto: `${E.type}.elsewhere` },
        { replyto: '_inbox.0123456789ABCDEF' },
      ]
      for (const [i, override] of forged.entries()) {
        const err = await transport.publish([{ ...base, id: `forged-${i}`, ...override }]).catch((e: unknown) => e)
        expect(err, JSON.stringify(override)).toBeInstanceOf(ValidationError)
      }
      const valid = await b.publish(E, { n: 2 })
      await wait(() => got.length === 1, 'the valid event')
      await quietPeriod(quietMs)
      expect(got.map((g) => g.id)).toEqual([valid.id])
    })

    caseIf(
      options.injectRaw ? false : 'no injectRaw given',
      'dead-letters a message whose replyto is not a request-reply inbox, without running the handler or replying',
      async () => {
        const { bus, event, transport, prefix } = await setup()
        // Two request types, so the two forged requests never share a FIFO message group (a FIFO DLQ
        // listing shows one message per group at a time).
        const Ask = defineEvent(`${prefix}.ask`, Item, { reply: z.object({ ok: z.boolean() }) })
        const Ask2 = defineEvent(`${prefix}.ask2`, Item, { reply: z.object({ ok: z.boolean() }) })
        const E = event()
        const b = bus()
        const handled: number[] = []
        const elsewhere: string[] = []
        await b.subscribe(
          Ask,
          (e) => {
            handled.push(e.data.n)
            return { ok: true }
          },
          { group: 'g' },
        )
        await b.subscribe(
          Ask2,
          (e) => {
            handled.push(e.data.n)
            return { ok: true }
          },
          { group: 'g' },
        )
        await b.subscribe(E, (e) => void elsewhere.push(e.id), { group: 'watch' })
        const forged = (type: string, replyto: string) =>
          JSON.stringify({
            specversion: '1.0',
            id: `forged-${uniqueToken()}`,
            source: 'attacker',
            type,
            time: new Date().toISOString(),
            data: { n: 1 },
            replyto,
          })
        await options.injectRaw!(
          transport,
          Ask.type,
          forged(Ask.type, `_inbox.x\r\nPUB $JS.API.STREAM.DELETE.X 0\r\n\r\n`),
        )
        await options.injectRaw!(transport, Ask2.type, forged(Ask2.type, E.type))
        await wait(() => b.metrics().totals.deadLettered === 2, 'both forged requests to be dead-lettered')
        await b.publish(Ask, { n: 2 })
        await wait(() => handled.length === 1, 'the genuine event')
        await quietPeriod(quietMs)
        expect(handled).toEqual([2])
        expect(elsewhere).toEqual([])
        expect(b.metrics().totals.deadLetteredByKind).toEqual({ malformed: 2 })
        if (transport.deadLetters) {
          const dead = await transport.deadLetters.list({ group: 'g' })
          expect(dead).toHaveLength(2)
          for (const d of dead) expect(d.reason.error).toContain('replyto')
        }
      },
    )

    caseIf(
      options.injectRaw ? false : 'no injectRaw given',
      'dead-letters a body nested 5,000 levels deep as malformed, and lists it with its raw text',
      async () => {
        const { bus, event, transport } = await setup()
        const E = event()
        const b = bus()
        const handled: number[] = []
        await b.subscribe(E, (e) => void handled.push(e.data.n), { group: 'g' })
        const deep = `{"specversion":"1.0","id":"deep","source":"attacker","type":"${E.type}","time":"${new Date().toISOString()}","data":${'['.repeat(5_000)}${']'.repeat(5_000)}}`
        await options.injectRaw!(transport, E.type, deep)
        await b.publish(E, { n: 1 })
        await wait(
          () => handled.length === 1 && b.metrics().totals.deadLettered === 1,
          'the valid event handled and the deep one dead-lettered',
        )
        expect(b.metrics().totals.deadLetteredByKind).toEqual({ malformed: 1 })
        if (transport.deadLetters) {
          const dead = await transport.deadLetters.list({ group: 'g' })
          expect(dead).toHaveLength(1)
          expect(dead[0]!.envelope).toBeUndefined()
          // The raw text as the tier keeps it (the db tier re-serialises its columns), with all 5,000 levels.
          expect(dead[0]!.raw).toContain('['.repeat(5_000))
          expect(dead[0]!.reason.error).toContain('nested deeper than')
          expect(() => JSON.stringify(dead)).not.toThrow()
        }
      },
    )

    caseIf(
      caps.ordering === 'per-key' ? false : 'ordering is none',
      'keeps per-key order across concurrency and a retry',
      async () => {
        const { bus, event } = await setup()
        const E = event()
        const b = bus()
        const seen = new Map<string, number[]>()
        let failedOnce = false
        await b.subscribe(
          E,
          async (e) => {
            if (e.data.key === 'a' && e.data.n === 4 && !failedOnce) {
              failedOnce = true
              throw new Error('transient')
            }
            const list = seen.get(e.data.key!) ?? []
            list.push(e.data.n)
            seen.set(e.data.key!, list)
          },
          { group: 'ordered', ordered: true, concurrency: 4 },
        )
        const keys = ['a', 'b', 'c']
        const data = Array.from({ length: 60 }, (_, i) => ({ n: Math.floor(i / 3), key: keys[i % 3]! }))
        for (const d of data) await b.publish(E, d, { key: d.key })
        await wait(() => keys.every((k) => (seen.get(k)?.length ?? 0) >= 20), 'all 60 events')
        for (const k of keys) expect(seen.get(k)).toEqual(Array.from({ length: 20 }, (_, i) => i))
        expect(failedOnce).toBe(true)
      },
    )

    it('redelivers unsettled events after the lease when a consumer dies mid-batch, none lost', async () => {
      const { bus, event } = await setup()
      const E = event()
      const crashing = bus()
      const hang = gate()
      cleanups.push(() => hang.open())
      const grabbed = new Set<number>()
      await crashing.subscribe(
        E,
        async (e) => {
          grabbed.add(e.data.n)
          await hang.promise
        },
        { group: 'survivors', leaseMs, concurrency: 5 },
      )
      await crashing.publishBatch(
        E,
        Array.from({ length: 5 }, (_, n) => ({ n })),
      )
      await wait(() => grabbed.size > 0, 'the doomed consumer to take events')
      // Abandon in-flight handlers as a crash would: nothing is acked.
      await crashing.close({ timeoutMs: 10 })
      const survivor = bus()
      const recovered = new Map<number, number>()
      await survivor.subscribe(E, (e) => void recovered.set(e.data.n, e.attempt), {
        group: 'survivors',
        leaseMs,
        concurrency: 5,
      })
      await wait(
        () => recovered.size === 5,
        () => `all 5 events recovered, got ${[...recovered.keys()]}`,
      )
      for (const n of grabbed) expect(recovered.get(n)).toBeGreaterThanOrEqual(2)
    })

    caseIf(
      caps.replay ? false : 'no replay',
      "lets a new group replay retained history with startFrom 'earliest'",
      async () => {
        const { bus, event } = await setup()
        const E = event()
        const b = bus()
        // Make the type known to the tier first (some tiers create per-type resources on first publish or subscribe).
        await b.publishBatch(E, [{ n: 0 }, { n: 1 }, { n: 2 }])
        const early: number[] = []
        const late: number[] = []
        await b.subscribe(E, (e) => void early.push(e.data.n), { group: 'replayer', startFrom: 'earliest' })
        await b.subscribe(E, (e) => void late.push(e.data.n), { group: 'newcomer', startFrom: 'latest' })
        await wait(() => early.length >= 3, 'the replaying group to read history')
        await b.publish(E, { n: 3 })
        await wait(() => early.length >= 4 && late.length >= 1, 'both groups to get the new event')
        expect(early.sort()).toEqual([0, 1, 2, 3])
        expect(late).toEqual([3])
      },
    )

    it('handles 8 concurrent publishers without loss or duplication', async () => {
      const { bus, event } = await setup()
      const E = event()
      const consumer = bus()
      const ids = new Set<string>()
      let count = 0
      await consumer.subscribe(
        E,
        (e) => {
          ids.add(e.id)
          count++
        },
        { group: 'g', concurrency: 16 },
      )
      const publishers = Array.from({ length: 8 }, () => bus())
      await Promise.all(
        publishers.map(async (p, i) => {
          for (let k = 0; k < 25; k++) await p.publish(E, { n: i * 100 + k })
        }),
      )
      await wait(
        () => ids.size === 200,
        () => `200 distinct events, got ${ids.size}`,
      )
      await quietPeriod(quietMs)
      expect(count).toBe(200)
    })

    it('close() waits for the in-flight handler, acks it, and stops intake', async () => {
      const { bus, event } = await setup()
      const E = event()
      const b = bus()
      const release = gate()
      let started = false
      let finished = false
      await b.subscribe(
        E,
        async () => {
          started = true
          await release.promise
          finished = true
        },
        { group: 'closing' },
      )
      await b.publish(E, { n: 1 })
      await wait(() => started, 'the handler to start')
      let closed = false
      const closing = b.close({ timeoutMs: timeoutMs }).then(() => (closed = true))
      await quietPeriod(50)
      expect(closed).toBe(false)
      release.open()
      await closing
      expect(finished).toBe(true)
      const next = bus()
      const redelivered: number[] = []
      await next.subscribe(E, (e) => void redelivered.push(e.data.n), { group: 'closing', leaseMs })
      await quietPeriod(leaseMs + quietMs)
      expect(redelivered).toEqual([])
    })

    it('delivers a payload near the tier limit and rejects one over it with a ValidationError naming the limit', async () => {
      const { bus, event } = await setup()
      const E = event()
      const b = bus()
      const got: number[] = []
      await b.subscribe(E, (e) => void got.push(e.data.pad!.length), { group: 'big' })
      const limit = caps.maxPayloadBytes
      const probe: Envelope = {
        specversion: '1.0',
        id: '0190a0a0-0000-7000-8000-000000000000',
        source: `conformance/${name}`,
        type: E.type,
        time: new Date().toISOString(),
        datacontenttype: 'application/json',
        data: { n: 1, pad: '' },
        dataversion: 1,
      }
      const overhead = encodeEnvelope(probe).length + 64
      const size = Number.isFinite(limit) ? limit - overhead : 1024 * 1024
      await b.publish(E, { n: 1, pad: 'x'.repeat(size) })
      await wait(() => got.length === 1, 'the large event')
      expect(got[0]).toBe(size)
      if (Number.isFinite(limit)) {
        const err = await b.publish(E, { n: 2, pad: 'x'.repeat(limit) }).catch((e: unknown) => e)
        expect(err).toBeInstanceOf(ValidationError)
        expect((err as Error).message).toContain(String(limit))
      }
    })

    it("routes wildcard subscriptions ('*' one token, '>' the rest), including types first seen after subscribing", async () => {
      const { bus, prefix } = await setup()
      const b = bus()
      const star: string[] = []
      const rest: string[] = []
      await b.subscribe(`${prefix}.agent.*.heartbeat`, (e) => void star.push(e.type), { group: 'monitor' })
      await b.subscribe(`${prefix}.work.nlp.>`, (e) => void rest.push(e.type), { group: 'workers-nlp' })
      const types = [
        'agent.a1.heartbeat',
        'agent.a1.b.heartbeat',
        'agent.a1.status',
        'work.nlp.high.sentiment',
        'work.nlp',
        'work.vision.high.ocr',
        'agent.a2.heartbeat',
      ]
      for (const t of types) await b.publish(defineEvent(`${prefix}.${t}`, Item), { n: 1 })
      await wait(() => star.length >= 2 && rest.length >= 1, 'the matching events')
      await quietPeriod(quietMs)
      expect(star.sort()).toEqual([`${prefix}.agent.a1.heartbeat`, `${prefix}.agent.a2.heartbeat`])
      expect(rest).toEqual([`${prefix}.work.nlp.high.sentiment`])
    })

    it("keeps tierbus-internal traffic (request-reply inboxes) out of a catch-all '>' subscription", async () => {
      const { bus, prefix } = await setup()
      const Ask = defineEvent(`${prefix}.ask`, z.object({}), { reply: z.object({ ok: z.boolean() }) })
      const Note = defineEvent(`${prefix}.note`, Item)
      const b = bus()
      const everything: string[] = []
      await b.subscribe('>', (e) => void everything.push(e.type), { group: 'firehose' })
      await b.subscribe(Ask, () => ({ ok: true }), { group: 'askers' })
      expect(await b.request(Ask, {}, { timeoutMs })).toEqual({ ok: true })
      await b.publish(Note, { n: 1 })
      await wait(() => everything.includes(Note.type), 'the ordinary event')
      await quietPeriod(quietMs)
      expect(everything.filter((t) => t.startsWith('_'))).toEqual([])
      expect(everything.sort(), JSON.stringify(everything)).toEqual([Ask.type, Note.type])
    })

    it('answers request-reply with the handler result, and times out without a responder', async () => {
      const { bus, prefix } = await setup()
      const Ask = defineEvent(`${prefix}.sentiment.analyze`, z.object({ text: z.string() }), {
        reply: z.object({ score: z.number() }),
      })
      const Nobody = defineEvent(`${prefix}.nobody.home`, z.object({}))
      const responder = bus()
      await responder.subscribe(Ask, (e) => ({ score: e.data.text.length }), { group: 'analyzers' })
      const requester = bus()
      const reply = await requester.request(Ask, { text: 'great' }, { timeoutMs })
      expect(reply).toEqual({ score: 5 })
      const err = await requester.request(Nobody, {}, { timeoutMs: 500 }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(TimeoutError)
    })

    caseIf(caps.delay ? false : 'no delayed delivery', 'delays delivery by delayMs', async () => {
      const { bus, event } = await setup()
      const E = event()
      const b = bus()
      let receivedAt = 0
      await b.subscribe(
        E,
        () => {
          receivedAt = Date.now()
        },
        { group: 'g' },
      )
      const sentAt = Date.now()
      await b.publish(E, { n: 1 }, { delayMs: 400 })
      await wait(() => receivedAt > 0, 'the delayed event')
      expect(receivedAt - sentAt).toBeGreaterThanOrEqual(390)
    })
  })
}
