import { eventually, uniqueToken } from '@tierbus/core/testing'
import { describe, expect, it } from 'vitest'
import { type PrivateBroker, startNats, startNatsCluster } from '../../../test/outage/brokers.js'
import { cleanupAfterAll, expectRecovered, runOutage } from '../../../test/outage/scenario.js'
import { type NatsTransport, type NatsTransportOptions, natsTransport } from '../src/index.js'

const PUBLISH_TIMEOUT_MS = 2_000

describe('NATS outage: a private nats-server SIGKILLed under load and restarted', () => {
  const track = cleanupAfterAll()

  async function setup(broker: Promise<PrivateBroker>, overrides: Partial<NatsTransportOptions> = {}) {
    const b = await broker
    track(b.cleanup)
    const states: string[] = []
    const errors: unknown[] = []
    const token = uniqueToken('tb')
    const transport: NatsTransport = await natsTransport({
      servers: b.url.split(','),
      prefix: token,
      stream: token.toUpperCase(),
      publishTimeoutMs: PUBLISH_TIMEOUT_MS,
      onConnectionState: (state) => void states.push(state),
      onError: (err) => void errors.push(err),
      ...overrides,
    })
    track(() => transport.close())
    return { broker: b, transport, states, errors }
  }

  it('recovers from a 3 s outage: nothing lost, consumers resume, publish rejects within its deadline', async () => {
    const { broker, transport, states } = await setup(startNats())
    const [server] = broker.processes
    const report = await runOutage({
      transport,
      publishTimeoutMs: PUBLISH_TIMEOUT_MS,
      states,
      outageMs: 3_000,
      kill: () => server!.kill(),
      restart: () => server!.start(),
    })
    expectRecovered(report, PUBLISH_TIMEOUT_MS)
  }, 240_000)

  it('recovers from a 30 s outage (longer than the old 10 reconnect attempts), reporting through hooks, not console', async () => {
    const printed: unknown[] = []
    const original = console.error
    console.error = (...args: unknown[]) => void printed.push(args)
    try {
      const { broker, transport, states } = await setup(startNats())
      const [server] = broker.processes
      const report = await runOutage({
        transport,
        publishTimeoutMs: PUBLISH_TIMEOUT_MS,
        states,
        outageMs: 30_000,
        kill: () => server!.kill(),
        restart: () => server!.start(),
      })
      expectRecovered(report, PUBLISH_TIMEOUT_MS)
    } finally {
      console.error = original
    }
    expect(printed).toEqual([])
  }, 300_000)

  it('rebuilds its connection and resumes the subscriptions when the client gives up reconnecting', async () => {
    // One reconnect attempt: the client closes for good during the outage, and the transport must build a new connection.
    const { broker, transport, states } = await setup(startNats(), {
      maxReconnectAttempts: 1,
      reconnectBackoff: { initialDelayMs: 100, maxDelayMs: 1_000 },
    })
    const [server] = broker.processes
    const closedBefore = transport.connection
    const report = await runOutage({
      transport,
      publishTimeoutMs: PUBLISH_TIMEOUT_MS,
      states,
      outageMs: 5_000,
      kill: () => server!.kill(),
      restart: () => server!.start(),
    })
    expectRecovered(report, PUBLISH_TIMEOUT_MS)
    expect(closedBefore.isClosed(), 'the first client gave up').toBe(true)
    expect(transport.connection).not.toBe(closedBefore)
  }, 240_000)

  it('closes promptly while the server is down and reconnects are unlimited', async () => {
    const { broker, transport, states } = await setup(startNats())
    await broker.processes[0]!.kill()
    await eventually(() => states.includes('down'), 'the transport to notice the outage')
    const started = Date.now()
    await transport.close()
    expect(Date.now() - started).toBeLessThanOrEqual(PUBLISH_TIMEOUT_MS + 3_000)
    expect(states.at(-1)).toBe('closed')
  }, 60_000)

  it('loses nothing when one node of a 3-node JetStream cluster (R3 stream) is SIGKILLed under load', async () => {
    const token = uniqueToken('tb')
    const { broker, transport, states } = await setup(startNatsCluster(3), {
      streams: [{ name: token.toUpperCase(), types: ['>'], replicas: 3, maxAgeMs: 600_000 }],
      prefix: token,
    })
    // Kill the node the client is connected to, so the client must fail over too.
    const connectedPort = Number(transport.connection.getServer().split(':').at(-1))
    const victim = broker.processes.find((p) => p.spec.ports.includes(connectedPort)) ?? broker.processes[0]!
    const report = await runOutage({
      transport,
      publishTimeoutMs: PUBLISH_TIMEOUT_MS,
      states,
      outageMs: 3_000,
      kill: () => victim.kill(),
      restart: () => victim.start(),
    })
    expect(report.lost, `events published but never handled (of ${report.published})`).toEqual([])
    expect(report.handledAfterRestart).toBeGreaterThanOrEqual(20)
    expect(report.slowestPublishMs).toBeLessThanOrEqual(PUBLISH_TIMEOUT_MS + 3_000)
  }, 300_000)
})
