import { uniqueToken } from '@tierbus/core/testing'
import { describe, expect, it } from 'vitest'
import { type PrivateBroker, startRedis } from '../../../test/outage/brokers.js'
import { cleanupAfterAll, expectRecovered, runOutage } from '../../../test/outage/scenario.js'
import { redisTransport } from '../src/index.js'

const PUBLISH_TIMEOUT_MS = 2_000

describe('Redis outage: a private redis-server SIGKILLed under load and restarted', () => {
  const track = cleanupAfterAll()

  async function outage(outageMs: number) {
    const broker: PrivateBroker = await startRedis()
    track(broker.cleanup)
    const states: string[] = []
    const transport = await redisTransport({
      url: broker.url,
      prefix: uniqueToken('tb'),
      publishTimeoutMs: PUBLISH_TIMEOUT_MS,
      onConnectionState: (state) => void states.push(state),
      onError: () => {},
    })
    track(() => transport.close())
    const [server] = broker.processes
    return runOutage({
      transport,
      publishTimeoutMs: PUBLISH_TIMEOUT_MS,
      states,
      outageMs,
      kill: () => server!.kill(),
      restart: () => server!.start(),
    })
  }

  it('recovers from a 3 s outage: nothing lost, consumers resume, publish rejects within its deadline', async () => {
    const report = await outage(3_000)
    expectRecovered(report, PUBLISH_TIMEOUT_MS)
    expect(report.lost).toEqual([])
  }, 240_000)

  it('recovers from a 30 s outage, publish never hanging for the outage (it used to take 32.9 s)', async () => {
    const report = await outage(30_000)
    expectRecovered(report, PUBLISH_TIMEOUT_MS)
    expect(report.lost).toEqual([])
  }, 300_000)
})
