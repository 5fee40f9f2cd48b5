import { uniqueToken } from '@tierbus/core/testing'
import { type NatsTransport, type NatsTransportOptions, natsTransport } from '../src/index.js'

/** The NATS server every test uses (must run with JetStream: nats-server -js). */
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'

/** A transport on its own random prefix and stream names; its streams are deleted when it closes. */
export async function isolatedTransport(overrides: Partial<NatsTransportOptions> = {}): Promise<NatsTransport> {
  const token = uniqueToken('tb')
  return natsTransport({
    url: NATS_URL,
    prefix: token,
    stream: token.toUpperCase(),
    deleteStreamsOnClose: true,
    maxAgeMs: 600_000,
    ...overrides,
  })
}
