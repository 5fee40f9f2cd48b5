import { eventually, uniqueToken } from '@tierbus/core/testing'
import { describe, expect, it } from 'vitest'
import { startRabbitMQ } from '../../../test/outage/brokers.js'
import { cleanupAfterAll, expectRecovered, runOutage } from '../../../test/outage/scenario.js'
import { type AmqpTransport, amqpTransport } from '../src/index.js'

const PUBLISH_TIMEOUT_MS = 2_000

// One private node for the whole file: RabbitMQ takes 10-60 s to boot on this machine.
describe('AMQP outage: a private RabbitMQ node SIGKILLed under load and restarted on the same port', () => {
  const track = cleanupAfterAll()

  // Nothing lost, consumers resume, publish rejects within its deadline while down; close() is prompt while down.
  it('recovers from a broker restart under load, and closes promptly while the broker is down', async () => {
    const broker = await startRabbitMQ()
    track(broker.cleanup)
    const [node] = broker.processes
    const states: string[] = []
    const transport: AmqpTransport = await amqpTransport({
      url: broker.url,
      prefix: uniqueToken('tb'),
      publishTimeoutMs: PUBLISH_TIMEOUT_MS,
      reconnectBackoff: { initialDelayMs: 100, maxDelayMs: 1_000 },
      onConnectionState: (state) => void states.push(state),
      onError: () => {},
    })
    track(() => transport.close())
    const report = await runOutage({
      transport,
      publishTimeoutMs: PUBLISH_TIMEOUT_MS,
      states,
      outageMs: 3_000,
      // RabbitMQ 3.10 writes its registry of quorum queues to disk lazily: a queue declared moments before a
      // SIGKILL can come back without a leader. A graceful restart first makes the group's queue long-lived.
      prepare: async () => {
        await node!.stop()
        await node!.start()
      },
      kill: () => node!.kill(),
      restart: () => node!.start(),
    })
    expectRecovered(report, PUBLISH_TIMEOUT_MS)

    // Down again, for good: close() must not wait for a broker that is not coming back.
    await node!.kill()
    await eventually(() => states.at(-1) !== 'up', 'the transport to notice the second outage')
    const started = Date.now()
    await transport.close()
    expect(Date.now() - started).toBeLessThanOrEqual(PUBLISH_TIMEOUT_MS + 3_000)
    expect(states.at(-1)).toBe('closed')
  }, 600_000)
})
