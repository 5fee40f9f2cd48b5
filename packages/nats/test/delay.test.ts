import { type Bus, createBus, defineEvent } from '@tierbus/core'
import { eventually } from '@tierbus/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import type { NatsTransport } from '../src/index.js'
import { isolatedTransport } from './helpers.js'

const Reminder = defineEvent('reminder.due', z.object({ n: z.number() }))

describe('nats: delayed delivery', () => {
  const buses: Bus[] = []
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((b) => b.close()))
  })

  async function bus(): Promise<{ bus: Bus; transport: NatsTransport }> {
    const transport = await isolatedTransport()
    const b = createBus({ transport, source: 'test/nats-delay' })
    buses.push(b)
    return { bus: b, transport }
  }

  it('holds a delayed event until it is due and counts the deferral as no attempt', async () => {
    const { bus: b } = await bus()
    const seen: Array<{ at: number; attempt: number }> = []
    await b.subscribe(
      Reminder,
      (e) => {
        seen.push({ at: Date.now(), attempt: e.attempt })
        if (e.attempt === 1) throw new Error('first attempt fails')
      },
      { group: 'g', retry: { attempts: 3, backoff: { baseMs: 50, maxMs: 50 } } },
    )
    const sentAt = Date.now()
    await b.publish(Reminder, { n: 1 }, { delayMs: 700 })
    await eventually(() => seen.length >= 2, 'the delayed event, then its retry')
    expect(seen[0]!.at - sentAt).toBeGreaterThanOrEqual(690)
    expect(seen.map((s) => s.attempt)).toEqual([1, 2])
  })
})
