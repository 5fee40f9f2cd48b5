import { createServer, type Socket } from 'node:net'
import { type Envelope, TransportError } from '@tierbus/core'
import { uniqueToken } from '@tierbus/core/testing'
import { describe, expect, it } from 'vitest'
import { cleanupAfterAll, DEADLINE_SLACK_MS, expectRecovered, runOutage } from '../../../test/outage/scenario.js'
import { sqsTransport } from '../src/index.js'
import { EMULATOR_AWS, isolatedTransport, startRestartableEmulator } from './emulator.js'

const PUBLISH_TIMEOUT_MS = 2_000

describe('SQS/SNS outage: the emulator stops listening under load and comes back', () => {
  const track = cleanupAfterAll()

  it.each([3, 30])(
    'recovers from a %i s outage: nothing lost, consumers resume, publish rejects within its deadline',
    async (seconds) => {
      // fauxqs runs in this process, so the outage is its server going away (connections dropped), not a SIGKILL.
      const emulator = await startRestartableEmulator()
      track(emulator.stop)
      const states: string[] = []
      const transport = await isolatedTransport(emulator.endpoint, {
        waitTimeSeconds: 1,
        publishTimeoutMs: PUBLISH_TIMEOUT_MS,
        onConnectionState: (state) => void states.push(state),
      })
      track(() => transport.close())
      const report = await runOutage({
        transport,
        publishTimeoutMs: PUBLISH_TIMEOUT_MS,
        states,
        outageMs: seconds * 1_000,
        kill: () => emulator.stopListening(),
        restart: () => emulator.listenAgain(),
      })
      expectRecovered(report, PUBLISH_TIMEOUT_MS)
    },
    240_000,
  )

  it('rejects publish within its deadline when the endpoint accepts connections but never answers', async () => {
    // A black hole: the SDK has no request timeout of its own, so without the deadline this publish never settles.
    const sockets = new Set<Socket>()
    const blackHole = createServer((socket) => void sockets.add(socket))
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve))
    track(async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => blackHole.close(() => resolve()))
    })
    const { port } = blackHole.address() as { port: number }
    const transport = await sqsTransport({
      ...EMULATOR_AWS,
      endpoint: `http://127.0.0.1:${port}`,
      prefix: uniqueToken('tb'),
      publishTimeoutMs: PUBLISH_TIMEOUT_MS,
      onError: () => {},
    })
    track(() => transport.close())
    const envelope: Envelope = {
      specversion: '1.0',
      id: uniqueToken('id'),
      source: 'outage-test',
      type: 'outage.blackhole',
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      data: {},
    }
    const started = Date.now()
    const err = await transport.publish([envelope]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TransportError)
    expect((err as TransportError).retryable).toBe(true)
    expect(Date.now() - started).toBeLessThanOrEqual(PUBLISH_TIMEOUT_MS + DEADLINE_SLACK_MS)
  }, 60_000)
})
