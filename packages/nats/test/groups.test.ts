import { type Bus, createBus, defineEvent } from '@tierbus/core'
import { eventually, gate, quietPeriod, uniqueToken } from '@tierbus/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { durableName, misterSmithStreams } from '../src/index.js'
import { isolatedTransport } from './helpers.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})
async function setup(options: Parameters<typeof isolatedTransport>[0] = {}) {
  const transport = await isolatedTransport(options)
  cleanups.push(() => transport.close())
  const bus = (): Bus => {
    const b = createBus({
      transport,
      source: 'mistersmith/test',
      closeTransport: false,
      retry: { backoff: { baseMs: 20, maxMs: 50 } },
      onError: () => {},
    })
    cleanups.push(() => b.close({ timeoutMs: 1000 }))
    return b
  }
  return { transport, bus }
}

const Work = z.object({ task: z.number() })
const Beat = z.object({ at: z.number() })

describe('seed 001 subject patterns, end to end on JetStream', () => {
  it("shares 'work.nlp.>' among 2 competing members of queue group workers-nlp, each task once", async () => {
    const { bus } = await setup({ streams: misterSmithStreams(uniqueToken('MS').toUpperCase()) })
    const handled: Array<[string, string, number]> = []
    const a = bus()
    const b = bus()
    await a.subscribe('work.nlp.>', (e) => void handled.push(['a', e.type, (e.data as { task: number }).task]), {
      group: 'workers-nlp',
      concurrency: 2,
    })
    await b.subscribe('work.nlp.>', (e) => void handled.push(['b', e.type, (e.data as { task: number }).task]), {
      group: 'workers-nlp',
      concurrency: 2,
    })
    const producer = bus()
    const types = ['work.nlp.high.sentiment', 'work.nlp.low.summarize', 'work.vision.high.ocr']
    for (let task = 0; task < 60; task++) await producer.publish(defineEvent(types[task % 3]!, Work), { task })
    await eventually(
      () => handled.length >= 40,
      () => `40 nlp tasks, got ${handled.length}`,
    )
    await quietPeriod(300)
    expect(handled).toHaveLength(40)
    expect(new Set(handled.map(([, , n]) => n)).size).toBe(40)
    expect(handled.every(([, type]) => type.startsWith('work.nlp.'))).toBe(true)
    // Both members took a share (competing consumers, not a single active one).
    expect(handled.some(([m]) => m === 'a')).toBe(true)
    expect(handled.some(([m]) => m === 'b')).toBe(true)
  })

  it("fans 'agent.*.heartbeat' out to every group (broadcast), and only heartbeats", async () => {
    const { bus } = await setup({ streams: misterSmithStreams(uniqueToken('MS').toUpperCase()) })
    const monitor: string[] = []
    const dashboard: string[] = []
    const b = bus()
    await b.subscribe('agent.*.heartbeat', (e) => void monitor.push(e.type), { group: 'monitor' })
    await b.subscribe('agent.*.heartbeat', (e) => void dashboard.push(e.type), { group: 'dashboard' })
    for (const t of [
      'agent.nlp-001.heartbeat',
      'agent.nlp-002.heartbeat',
      'agent.nlp-001.started',
      'agent.nlp-001.x.heartbeat',
    ]) {
      await b.publish(defineEvent(t, Beat), { at: Date.now() })
    }
    await eventually(() => monitor.length >= 2 && dashboard.length >= 2, 'both groups to get both heartbeats')
    await quietPeriod(300)
    expect(monitor.sort()).toEqual(['agent.nlp-001.heartbeat', 'agent.nlp-002.heartbeat'])
    expect(dashboard.sort()).toEqual(['agent.nlp-001.heartbeat', 'agent.nlp-002.heartbeat'])
  })
})

describe('NATS consumers', () => {
  it('maps a subscription to a durable pull consumer: filter = prefix + pattern, ack_wait = leaseMs, max_deliver -1', async () => {
    const { transport, bus } = await setup()
    await bus().subscribe('work.nlp.>', () => {}, { group: 'workers-nlp', leaseMs: 4_000, concurrency: 3 })
    const jsm = await transport.connection.jetstreamManager()
    const info = await jsm.consumers.info(transport.streams[0]!, durableName('workers-nlp', 'work.nlp.>'))
    expect(info.config.filter_subject).toBe(`${transport.subjects.prefix}.work.nlp.>`)
    expect(info.config.ack_wait).toBe(4_000 * 1e6)
    expect(info.config.max_deliver).toBe(-1)
    expect(info.config.deliver_policy).toBe('new')
    expect(info.config.max_ack_pending).toBeGreaterThanOrEqual(3)
  })

  it('keeps a long handler alive past ack_wait with working() heartbeats, so it is not redelivered', async () => {
    const { bus } = await setup()
    const E = defineEvent(`${uniqueToken('slow')}.job`, Work)
    const b = bus()
    const attempts: number[] = []
    const release = gate()
    let done = false
    await b.subscribe(
      E,
      async (e) => {
        attempts.push(e.attempt)
        await release.promise
        done = true
      },
      { group: 'slow', leaseMs: 1_000, concurrency: 2 },
    )
    await b.publish(E, { task: 1 })
    await eventually(() => attempts.length === 1, 'the handler to start')
    await quietPeriod(2_500) // 2.5 x ack_wait: without working() the message would be handed out again
    release.open()
    await eventually(() => done, 'the handler to finish')
    expect(attempts).toEqual([1])
  })

  it('redrives a dead letter only to the group it failed in, and purges', async () => {
    const { transport, bus } = await setup()
    const E = defineEvent(`${uniqueToken('d')}.order.placed`, Work)
    const b = bus()
    const ok: number[] = []
    const flaky: number[] = []
    let healthy = false
    await b.subscribe(E, (e) => void ok.push(e.attempt), { group: 'billing' })
    await b.subscribe(
      E,
      (e) => {
        flaky.push(e.attempt)
        if (!healthy) throw new Error('mailer down')
      },
      { group: 'mailer', retry: { attempts: 2 } },
    )
    await b.publish(E, { task: 1 })
    await b.publish(E, { task: 2 })
    let dead = await transport.deadLetters.list()
    await eventually(
      async () => {
        dead = await transport.deadLetters.list({ group: 'mailer' })
        return dead.length === 2
      },
      'two dead letters of mailer',
      { intervalMs: 50 },
    )
    expect(await transport.deadLetters.list({ group: 'billing' })).toEqual([])
    expect(dead[0]!.reason).toMatchObject({ kind: 'handler-failed', attempts: 2 })
    expect(dead[0]!.reason.error).toContain('mailer down')
    // Oldest first; the two failed with independent backoff jitter, so either may have died first.
    expect(dead.map((d) => (d.envelope?.data as { task: number } | undefined)?.task).sort()).toEqual([1, 2])
    healthy = true
    expect(await transport.deadLetters.redrive([dead[0]!.id])).toBe(1)
    await eventually(() => flaky.length === 5, 'the redriven event handled by mailer')
    expect(flaky[4]).toBe(1)
    await quietPeriod(300)
    expect(ok).toEqual([1, 1]) // billing did not get the redriven copy
    expect(await transport.deadLetters.purge([dead[1]!.id, '999999'])).toBe(1)
    expect(await transport.deadLetters.list()).toEqual([])
  })
})
