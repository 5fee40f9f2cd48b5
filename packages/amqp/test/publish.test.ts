import { createBus, defineEvent, type Envelope, TransportError, ValidationError } from '@tierbus/core'
import { eventually, uniqueToken } from '@tierbus/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { type AmqpTransport, MAX_WAIT_MS, PublishNackedError, UnroutableError } from '../src/index.js'
import { isolatedTransport } from './helpers.js'

const envelope = (type: string, extra: Partial<Envelope> = {}): Envelope => ({
  specversion: '1.0',
  id: uniqueToken('id'),
  source: 'publish-test',
  type,
  time: new Date().toISOString(),
  datacontenttype: 'application/json',
  data: { n: 1 },
  ...extra,
})

describe('AMQP publish with publisher confirms', () => {
  let transport: AmqpTransport | undefined
  afterEach(async () => {
    await transport?.close()
    transport = undefined
  })

  // A queue that holds nothing and rejects publishes: the broker answers basic.nack.
  it('rejects with PublishNackedError when the broker refuses the message', async () => {
    transport = await isolatedTransport()
    const type = `${uniqueToken('p')}.full`
    const ch = await transport.connection!.createChannel()
    const full = `${transport.names.prefix}.full`
    await ch.assertQueue(full, { durable: true, arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } })
    await ch.bindQueue(full, transport.names.exchange, type)
    try {
      const err = await transport.publish([envelope(type)]).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(PublishNackedError)
      expect((err as PublishNackedError).retryable).toBe(true)
    } finally {
      await ch.deleteQueue(full)
      await ch.close()
    }
  })

  // basic.return of a delayed event: its TTL queue was deleted by hand.
  it('rejects a delayed event whose TTL queue is gone with UnroutableError, then declares it again', async () => {
    transport = await isolatedTransport()
    const type = `${uniqueToken('p')}.later`
    await transport.publish([envelope(type, { deliverat: new Date(Date.now() + 150).toISOString() })])
    const ch = await transport.connection!.createChannel()
    await ch.deleteQueue(`${transport.names.prefix}.wait.delay.200`)
    await ch.close()
    const err = await transport
      .publish([envelope(type, { deliverat: new Date(Date.now() + 150).toISOString() })])
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UnroutableError)
    await transport.publish([envelope(type, { deliverat: new Date(Date.now() + 150).toISOString() })])
  })

  // The broker closes the channel of a publish to an exchange deleted by hand.
  it('replaces its confirm channel when the broker closes it, and publishes again', async () => {
    transport = await isolatedTransport()
    const type = `${uniqueToken('p')}.gone`
    const ch = await transport.connection!.createChannel()
    await ch.deleteExchange(transport.names.exchange)
    const err = await transport.publish([envelope(type)]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TransportError)
    await ch.assertExchange(transport.names.exchange, 'topic', { durable: true })
    await ch.close()
    await eventually(
      async () =>
        transport!.publish([envelope(type)]).then(
          () => true,
          () => false,
        ),
      'a publish on a new confirm channel',
    )
  })

  it('rejects a delay longer than the longest TTL queue with a ValidationError', async () => {
    transport = await isolatedTransport()
    const err = await transport
      .publish([
        envelope(`${uniqueToken('p')}.far`, { deliverat: new Date(Date.now() + MAX_WAIT_MS + 60_000).toISOString() }),
      ])
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ValidationError)
  })

  it('resolves a publish only once the event is stored in every group queue it routes to', async () => {
    transport = await isolatedTransport()
    const bus = createBus({ transport, source: 'publish-test', closeTransport: false })
    const E = defineEvent(`${uniqueToken('p')}.stored`, z.object({ n: z.number() }))
    const sub = await bus.subscribe(E, () => {}, { group: 'later' })
    await sub.close()
    await bus.publishBatch(
      E,
      Array.from({ length: 100 }, (_, n) => ({ n })),
    )
    const ch = await transport.connection!.createChannel()
    const { messageCount } = await ch.checkQueue(transport.names.groupQueue('later', E.type))
    await ch.close()
    expect(messageCount).toBe(100)
    await bus.close()
  })
})
