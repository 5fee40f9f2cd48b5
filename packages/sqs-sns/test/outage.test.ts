import { describe, it } from 'vitest'
import { cleanupAfterAll, expectRecovered, runOutage } from '../../../test/outage/scenario.js'
import { isolatedTransport, startRestartableEmulator } from './emulator.js'

const PUBLISH_TIMEOUT_MS = 2_000

describe('SQS/SNS outage: the emulator stops listening under load and comes back', () => {
  const track = cleanupAfterAll()

  it('recovers from a 3 s outage: nothing lost, consumers resume, publish rejects within its deadline', async () => {
    // fauxqs runs in this process, so the outage is its server going away (connections dropped), not a SIGKILL.
    const emulator = await startRestartableEmulator()
    track(emulator.stop)
    const states: string[] = []
    const transport = isolatedTransport(emulator.endpoint, {
      waitTimeSeconds: 1,
      publishTimeoutMs: PUBLISH_TIMEOUT_MS,
      onConnectionState: (state) => void states.push(state),
    })
    track(() => transport.close())
    const report = await runOutage({ transport, publishTimeoutMs: PUBLISH_TIMEOUT_MS, states, outageMs: 3_000, kill: () => emulator.stopListening(), restart: () => emulator.listenAgain() })
    expectRecovered(report, PUBLISH_TIMEOUT_MS)
  }, 240_000)
})
