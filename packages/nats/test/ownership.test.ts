// Ownership of an ordered group's consumer (ownership.ts) against a real KV bucket on the NATS server.
import { eventually, uniqueToken } from '@tierbus/core/testing'
import { connect, type JetStreamManager } from 'nats'
import { describe, expect, it } from 'vitest'
import { ConsumerOwnership } from '../src/ownership.js'
import { NATS_URL } from './helpers.js'

describe('ConsumerOwnership', () => {
  it('pulls one lease after taking ownership when asking for pending acks fails, instead of never', async () => {
    const nc = await connect({ servers: NATS_URL })
    const bucket = uniqueToken('OWN').toUpperCase()
    const jsm = await nc.jetstreamManager()
    try {
      const kv = await nc.jetstream().views.kv(bucket, { history: 1 })
      // The real manager, except that the first consumers.info (the new owner's question) fails, as a
      // request timing out under load does.
      const refused = new Error('consumer info timed out (injected)')
      let failed = 0
      const flaky = new Proxy(jsm, {
        get: (target, key) =>
          key !== 'consumers'
            ? Reflect.get(target, key)
            : new Proxy(target.consumers, {
                get: (consumers, k) =>
                  k === 'info' && failed++ === 0 ? () => Promise.reject(refused) : Reflect.get(consumers, k),
              }),
      }) as JetStreamManager
      const errors: unknown[] = []
      let readyAt = 0
      const leaseMs = 400
      const startedAt = Date.now()
      const ownership = new ConsumerOwnership(
        kv,
        () => flaky,
        'ANY',
        'durable',
        'member-a',
        leaseMs,
        () => (readyAt ||= Date.now()),
        (err) => errors.push(err),
      )
      ownership.start()
      try {
        await eventually(() => readyAt > 0, 'the owner to be told it may pull', { timeoutMs: 5_000 })
        expect(errors).toContain(refused)
        // It waited out one lease (every message a previous owner held is due again by then) ...
        expect(readyAt - startedAt).toBeGreaterThanOrEqual(leaseMs)
        // ... and may pull now.
        expect(ownership.pullWindowMs()).toBeGreaterThan(0)
      } finally {
        await ownership.release()
      }
    } finally {
      await jsm.streams.delete(`KV_${bucket}`).catch(() => {})
      await nc.close()
    }
  })
})
