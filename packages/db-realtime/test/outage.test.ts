import { describe, expect, it } from 'vitest'
import { startPostgres } from '../../../test/outage/brokers.js'
import { cleanupAfterAll, expectRecovered, runOutage } from '../../../test/outage/scenario.js'
import { postgresTransport } from '../src/index.js'
import { freshSchema } from './helpers.js'

const PUBLISH_TIMEOUT_MS = 2_000

describe('Postgres outage: a private postgres SIGKILLed under load and restarted', () => {
  const track = cleanupAfterAll()

  it.each([3, 30])(
    'recovers from a %i s outage: nothing lost, consumers resume, publish rejects within its deadline',
    async (seconds) => {
      const broker = await startPostgres()
      track(broker.cleanup)
      const states: string[] = []
      const transport = await postgresTransport({
        url: broker.url,
        schema: freshSchema(),
        poolSize: 4,
        pollIntervalMs: 250,
        reconnectDelayMs: 100,
        publishTimeoutMs: PUBLISH_TIMEOUT_MS,
        onConnectionState: (state) => void states.push(state),
        onError: () => {},
      })
      track(() => transport.close())
      const [server] = broker.processes
      const report = await runOutage({
        transport,
        publishTimeoutMs: PUBLISH_TIMEOUT_MS,
        states,
        outageMs: seconds * 1_000,
        kill: () => server!.kill(),
        restart: () => server!.start(),
      })
      expectRecovered(report, PUBLISH_TIMEOUT_MS)
      expect(report.lost).toEqual([])
    },
    300_000,
  )
})
