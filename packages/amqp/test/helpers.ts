import { uniqueToken } from '@tierbus/core/testing'
import { amqpTransport, type AmqpTransport, type AmqpTransportOptions } from '../src/index.js'

/** The RabbitMQ broker every test uses. */
export const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672'

/** A transport on its own random prefix (and connection name); its queues and exchanges are deleted when it closes. */
export async function isolatedTransport(overrides: Partial<AmqpTransportOptions> = {}): Promise<AmqpTransport> {
  const prefix = uniqueToken('tb')
  return amqpTransport({ url: AMQP_URL, prefix, connectionName: `tierbus-test-${prefix}`, deleteOnClose: true, onError: () => {}, ...overrides })
}
