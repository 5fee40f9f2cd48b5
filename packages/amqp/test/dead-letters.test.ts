import { createBus, defineEvent } from '@tierbus/core'
import { eventually, uniqueToken } from '@tierbus/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { type AmqpTransport, DEAD_LETTER_HEADERS } from '../src/index.js'
import { isolatedTransport } from './helpers.js'

describe('AMQP dead-letter queues', () => {
  let transport: AmqpTransport | undefined
  afterEach(async () => {
    await transport?.close()
    transport = undefined
  })

  it('keeps the exact bytes of an undecodable body, with the reason in headers, and purges it', async () => {
    transport = await isolatedTransport()
    const t = transport
    const bus = createBus({ transport: t, source: 'dlq-test', closeTransport: false, onError: () => {} })
    const E = defineEvent(`${uniqueToken('d')}.item`, z.object({ n: z.number() }))
    await bus.subscribe(E, () => {}, { group: 'bytes' })
    // Not UTF-8, not JSON: what a foreign producer could put on the exchange.
    const garbage = Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x80, 0x22, 0xc3, 0x28])
    const ch = await t.connection!.createConfirmChannel()
    ch.publish(t.names.exchange, E.type, garbage, { persistent: true, messageId: 'foreign-1' })
    await ch.waitForConfirms()
    await eventually(
      async () => (await t.deadLetters.list({ group: 'bytes' })).length === 1,
      'the garbage to be dead-lettered',
      { intervalMs: 50 },
    )
    const [listed] = await t.deadLetters.list({ group: 'bytes' })
    expect(listed!.reason.kind).toBe('malformed')
    expect(listed!.envelope).toBeUndefined()

    // Read the DLQ itself: the original bytes, the reason and origin in headers.
    const raw = await ch.get(t.names.deadLetterQueue('bytes'), { noAck: false })
    expect(raw).not.toBe(false)
    if (raw === false) return
    expect(Buffer.compare(raw.content, garbage)).toBe(0)
    const h = raw.properties.headers ?? {}
    expect(JSON.parse(String(h[DEAD_LETTER_HEADERS.reason]))).toMatchObject({ kind: 'malformed', attempts: 1 })
    expect(h[DEAD_LETTER_HEADERS.group]).toBe('bytes')
    expect(h[DEAD_LETTER_HEADERS.queue]).toBe(t.names.groupQueue('bytes', E.type))
    expect(h[DEAD_LETTER_HEADERS.routingKey]).toBe(E.type)
    ch.nack(raw, false, true)
    await ch.close()

    expect(await t.deadLetters.purge([listed!.id])).toBe(1)
    expect(await t.deadLetters.list({ group: 'bytes' })).toEqual([])
    await bus.close()
  })

  // Two listings agree (nothing consumed); a redrive goes to the failed group only; a forged target is refused.
  it('lists without consuming, redrives one entry to its own group, refuses a forged target', async () => {
    transport = await isolatedTransport()
    const t = transport
    const bus = createBus({ transport: t, source: 'dlq-test', closeTransport: false, onError: () => {} })
    const E = defineEvent(`${uniqueToken('d')}.item`, z.object({ n: z.number() }))
    const handled: Array<[string, number]> = []
    let healthy = false
    await bus.subscribe(
      E,
      (e) => {
        if (!healthy) throw new Error(`fail ${e.data.n}`)
        handled.push(['a', e.data.n])
      },
      { group: 'a', retry: { attempts: 1 } },
    )
    await bus.subscribe(E, (e) => void handled.push(['b', e.data.n]), { group: 'b' })
    await bus.publishBatch(E, [{ n: 1 }, { n: 2 }])
    await eventually(
      async () => (await t.deadLetters.list({ group: 'a' })).length === 2,
      'two dead letters in group a',
      { intervalMs: 50 },
    )
    await eventually(() => handled.filter(([g]) => g === 'b').length === 2, 'group b to handle both')
    const first = await t.deadLetters.list({ group: 'a' })
    const second = await t.deadLetters.list({ group: 'a' })
    expect(second.map((d) => d.id).sort()).toEqual(first.map((d) => d.id).sort())
    expect(first.every((d) => d.reason.kind === 'handler-failed' && d.reason.error.startsWith('Error: fail'))).toBe(
      true,
    )

    // A dead letter whose target header names a queue outside this transport's groups is not sent anywhere.
    const ch = await t.connection!.createConfirmChannel()
    ch.publish('', t.names.deadLetterQueue('a'), Buffer.from(JSON.stringify(first[0]!.envelope)), {
      persistent: true,
      headers: {
        [DEAD_LETTER_HEADERS.id]: 'forged',
        [DEAD_LETTER_HEADERS.group]: 'a',
        [DEAD_LETTER_HEADERS.queue]: 'amq.rabbitmq.trace',
        [DEAD_LETTER_HEADERS.reason]: '{}',
      },
    })
    await ch.waitForConfirms()
    await ch.close()
    expect(await t.deadLetters.redrive(['forged'])).toBe(0)

    healthy = true
    const chosen = first.find((d) => d.envelope?.data && (d.envelope.data as { n: number }).n === 2)!
    expect(await t.deadLetters.redrive([chosen.id])).toBe(1)
    await eventually(() => handled.some(([g, n]) => g === 'a' && n === 2), 'the redriven event handled by group a')
    expect(handled.filter(([g]) => g === 'b')).toHaveLength(2) // group b did not get it again
    const left = await t.deadLetters.list({ group: 'a' })
    expect(left.map((d) => d.id).sort()).toEqual([first.find((d) => d !== chosen)!.id, 'forged'].sort())
    await bus.close()
  })

  it('lists what the broker dead-lettered after deliveryLimit unsettled handouts, with its reason', async () => {
    transport = await isolatedTransport({ deliveryLimit: 2 })
    const t = transport
    const type = `${uniqueToken('d')}.stuck`
    let handedOut = 0
    // A consumer that takes messages and never settles them (a crash loop, seen from the broker).
    const sub = await t.subscribe(
      {
        pattern: type,
        group: 'stuck',
        startFrom: 'latest',
        maxInFlight: 1,
        leaseMs: 200,
        maxAttempts: 100,
        ordered: false,
        ephemeral: false,
      },
      async (batch) => {
        handedOut += batch.length
      },
    )
    await t.publish([
      {
        specversion: '1.0',
        id: uniqueToken('id'),
        source: 'dlq-test',
        type,
        time: new Date().toISOString(),
        datacontenttype: 'application/json',
        data: {},
      },
    ])
    let dead: Awaited<ReturnType<typeof t.deadLetters.list>> = []
    const listed = async () => {
      dead = await t.deadLetters.list({ group: 'stuck' })
      return dead.length === 1
    }
    await eventually(listed, 'the broker to dead-letter it', { intervalMs: 100 })
    await sub.close()
    expect(handedOut).toBeGreaterThanOrEqual(2)
    expect(dead[0]!.group).toBe('stuck')
    expect(dead[0]!.reason.error).toMatch(/dead-lettered by the broker: delivery_limit/)
  })
})
