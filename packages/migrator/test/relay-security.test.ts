// Issue 11, items 1 and 7: the migration relay republishes the envelope inside a `_migration.*` event.
// Whoever may publish to the source tier can forge one; the relay must validate it as a whole envelope
// (reply data included) and dead-letter what fails, never republishing it.

import { createBus, type DeadLetter, type Envelope, memoryTransport, newEventId } from '@tierbus/core'
import { eventually, quietPeriod, uniqueToken } from '@tierbus/core/testing'
import { migratingTransport } from '@tierbus/migrator'
import { redisTransport } from '@tierbus/redis-streams'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

const now = () => new Date().toISOString()
const inner = (over: Partial<Envelope>): Envelope => ({
  specversion: '1.0',
  id: newEventId(),
  source: 'app',
  type: 'orders.placed',
  time: now(),
  datacontenttype: 'application/json',
  data: { n: 1 },
  ...over,
})
const pending = (data: unknown): Envelope => ({
  specversion: '1.0',
  id: newEventId(),
  source: 'attacker',
  type: '_migration.to-target',
  time: now(),
  datacontenttype: 'application/json',
  data,
})

describe('migration relay', () => {
  it('dead-letters forged pending events (bad type, forged replyto, not an envelope) and relays only the valid one', async () => {
    const prefix = `tbtest:relay:${uniqueToken()}`
    const source = await redisTransport({ url: REDIS_URL, prefix, onError: () => {} })
    const target = memoryTransport()
    const admin = new Redis(REDIS_URL)
    const transport = migratingTransport({ source, target, phase: 'dual-write', onError: () => {} })
    cleanups.push(async () => {
      await transport.close()
      const keys = await admin.keys(`${prefix}:*`)
      if (keys.length) await admin.del(...keys)
      await admin.quit()
    })
    // What arrives on the target tier, read straight from it.
    const onTarget: Envelope[] = []
    const watcher = createBus({ transport: target, source: 'watch', closeTransport: false, onError: () => {} })
    cleanups.push(() => watcher.close({ timeoutMs: 1_000 }))
    await watcher.subscribe('orders.>', (e) => void onTarget.push({ id: e.id } as Envelope), { group: 'watch' })
    await watcher.subscribe('_inbox.0123456789abcdef', () => void onTarget.push({ id: 'reply' } as Envelope), {
      group: 'inbox-watch',
    })
    // Starts the relays (they run from dual-write on).
    await transport.subscribe(
      {
        pattern: 'orders.placed',
        group: 'app',
        startFrom: 'latest',
        maxInFlight: 1,
        leaseMs: 5_000,
        maxAttempts: 1,
        ordered: false,
        ephemeral: false,
      },
      async (batch) => {
        for (const d of batch) await d.ack()
      },
    )

    const valid = inner({})
    const forged = [
      inner({ type: 'orders.placed\r\nPUB $JS.API.STREAM.DELETE.X 0\r\n\r\n' }),
      inner({ replyto: '_inbox.x\r\nPUB $JS.API.STREAM.DELETE.X 0\r\n\r\n' }),
      inner({ type: '_inbox.0123456789abcdef', replyto: 'orders.placed' }),
      'not an envelope',
      { ...inner({}), specversion: '0.3' },
    ]
    // Published on the source tier exactly as an attacker with publish rights there could.
    await source.publish([...forged.map(pending), pending(valid)])

    let dead: DeadLetter[] = []
    await eventually(
      async () => {
        dead = await source.deadLetters.list({ group: 'tierbus-migration-relay' })
        return dead.length === forged.length
      },
      () => `${forged.length} relay dead letters, got ${dead.length}`,
    )
    await eventually(() => onTarget.length >= 1, 'the valid pending event to be relayed')
    await quietPeriod(300)
    expect(onTarget.map((e) => e.id)).toEqual([valid.id])
    expect(transport.stats().relayed).toBe(1)
    for (const d of dead) expect(d.reason.kind).toBe('invalid-payload')
    const reasons = dead.map((d) => d.reason.error).join('\n')
    expect(reasons).toContain('type')
    expect(reasons).toContain('replyto')
    expect(reasons).toContain('specversion')
  })
})
