import { ConfigError } from '@tierbus/core'
import { describe, expect, it } from 'vitest'
import { bindingKey, MAX_WAIT_MS, Names, WAIT_BUCKETS_MS, waitBucket } from '../src/index.js'

describe('NATS patterns as AMQP binding keys', () => {
  // NATS '>' is one or more words; AMQP '#' alone would also match zero.
  it("keeps literal tokens and '*', and turns '>' into '*.#'", () => {
    expect(bindingKey('order.created')).toBe('order.created')
    expect(bindingKey('agent.*.heartbeat')).toBe('agent.*.heartbeat')
    expect(bindingKey('work.nlp.>')).toBe('work.nlp.*.#')
    expect(bindingKey('>')).toBe('*.#')
  })

  it('rejects what is not a pattern', () => {
    expect(() => bindingKey('a.>.b')).toThrow(ConfigError)
    expect(() => bindingKey('a..b')).toThrow(ConfigError)
  })
})

describe('names on the broker', () => {
  it('keeps two patterns of one group in two queues, and every group in its own DLQ', () => {
    const n = new Names('app')
    expect(n.exchange).toBe('app.events')
    expect(n.groupQueue('billing', 'order.*')).not.toBe(n.groupQueue('billing', 'invoice.*'))
    expect(n.groupQueue('billing', 'order.*')).toMatch(/^app\.q\.billing_[0-9a-f]{12}\.[0-9a-f]{12}$/)
    expect(n.deadLetterQueue('a b')).not.toBe(n.deadLetterQueue('a_b'))
    expect(Buffer.byteLength(n.partition('g'.repeat(200), '>', 99))).toBeLessThanOrEqual(255)
  })

  it('rejects a prefix that would not make valid names', () => {
    expect(() => new Names('a b')).toThrow(/prefix/)
    expect(() => new Names('a..b')).toThrow(/prefix/)
  })
})

describe('wait buckets of the TTL queues', () => {
  it('rounds a wait up to the next 1-2-5 step, so it lasts at least what was asked and at most 2.5 times it', () => {
    expect(waitBucket(1)).toBe(10)
    expect(waitBucket(200)).toBe(200)
    expect(waitBucket(201)).toBe(500)
    for (let ms = 10; ms <= MAX_WAIT_MS; ms = Math.ceil(ms * 1.37)) {
      const b = waitBucket(ms)
      expect(b).toBeGreaterThanOrEqual(ms)
      expect(b).toBeLessThanOrEqual(ms * 2.5)
    }
    expect(WAIT_BUCKETS_MS.length).toBeLessThanOrEqual(25)
  })
})
