import { uniqueToken } from '@tierbus/core/testing'
import { type ConsumeMessage, connect, type Options } from 'amqplib'
import { describe, expect, it } from 'vitest'
import { Publisher } from '../src/publisher.js'
import { AMQP_URL } from './helpers.js'

describe('Publisher', () => {
  it("sends what amqplib's ConfirmChannel.publish sends, below its options handling", async () => {
    const connection = await connect(AMQP_URL)
    try {
      const channel = await connection.createConfirmChannel()
      // The direct path is taken with the amqplib this package is tested against.
      expect(typeof (channel as unknown as Record<string, unknown>).sendMessage).toBe('function')
      expect(typeof (channel as unknown as Record<string, unknown>).pushConfirmCallback).toBe('function')
      const queue = uniqueToken('tb-publisher')
      await channel.assertQueue(queue, { exclusive: true })
      const properties: Options.Publish & { messageId: string } = {
        messageId: 'm-1',
        persistent: true,
        contentType: 'application/cloudevents+json',
        contentEncoding: 'identity',
        headers: { 'tierbus-key': 'order-7', 'tierbus-attempt': 2, nested: { a: 'b' } },
        priority: 3,
        correlationId: 'c-1',
        replyTo: 'somewhere',
        expiration: 60_000,
        timestamp: 1_700_000_000,
        type: 't',
        appId: 'app',
      }
      const publisher = new Publisher(channel)
      await publisher.publish({
        exchange: '',
        routingKey: queue,
        content: Buffer.from('direct'),
        properties,
        mandatory: true,
        what: 'a test message',
      })
      // The reference: amqplib's public publish of the same message.
      await new Promise<void>((resolve, reject) =>
        channel.publish('', queue, Buffer.from('public'), { ...properties, mandatory: true }, (err: unknown) =>
          err ? reject(err) : resolve(),
        ),
      )
      const consumer = await connection.createChannel()
      const got: ConsumeMessage[] = []
      await new Promise<void>((resolve) => {
        void consumer.consume(
          queue,
          (m) => {
            if (!m) return
            got.push(m)
            if (got.length === 2) resolve()
          },
          { noAck: true },
        )
      })
      const [direct, reference] = got
      expect(direct?.content.toString()).toBe('direct')
      expect(direct?.properties).toEqual(reference?.properties)
      expect(direct?.properties.headers).toEqual(properties.headers)
      expect(direct?.properties.deliveryMode).toBe(2)
      expect(direct?.properties.expiration).toBe('60000')
    } finally {
      await connection.close()
    }
  })
})
