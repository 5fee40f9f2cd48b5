// Issue 11, items 1 and 8 at core level: the inbox grammar, decode-time checks, and the consumer's
// defence in depth for transports that hand envelopes over as objects.

import {
  assertPublishableType,
  createBus,
  type DeadLetterReason,
  type Delivery,
  decodeEnvelope,
  defineEvent,
  type Envelope,
  isInboxType,
  MAX_NESTING_DEPTH,
  newInboxType,
  type Transport,
  tryDecodeEnvelope,
  ValidationError,
} from '@tierbus/core'
import { eventually } from '@tierbus/core/testing'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'

const base = {
  specversion: '1.0',
  id: 'e1',
  source: 's',
  type: 'orders.ask',
  time: '2026-11-28T09:00:00.000Z',
  data: {},
}

describe('inbox grammar', () => {
  it('accepts exactly what newInboxType creates', () => {
    const inbox = newInboxType()
    expect(inbox).toMatch(/^_inbox\.[0-9a-f]{16}$/)
    expect(isInboxType(inbox)).toBe(true)
    expect(() => assertPublishableType(inbox)).not.toThrow()
    expect(() => assertPublishableType('_inbox.x')).toThrow(ValidationError)
    for (const bad of [
      '_inbox.x',
      '_inbox.0123456789ABCDEF',
      '_inbox.0123456789abcdef0',
      '_inbox.0123456789abcde\n',
      'orders.ask',
      ' _inbox.0123456789abcdef',
      42,
    ]) {
      expect(isInboxType(bad), JSON.stringify(bad)).toBe(false)
    }
  })
})

describe('decoding', () => {
  it('treats a replyto outside the inbox grammar as malformed, naming it', () => {
    const forged = '_inbox.x\r\nPUB $JS.API.STREAM.DELETE.S 0\r\n\r\n'
    const { malformed } = tryDecodeEnvelope(JSON.stringify({ ...base, replyto: forged }))
    expect(malformed?.error).toContain('replyto')
    expect(malformed?.error).toContain(JSON.stringify(forged))
    expect(decodeEnvelope(JSON.stringify({ ...base, replyto: '_inbox.0123456789abcdef' })).replyto).toBe(
      '_inbox.0123456789abcdef',
    )
  })

  it('treats a type with whitespace or control characters, or a fake inbox type, as malformed', () => {
    for (const type of ['orders.ask x', 'orders.ask\r\n', 'orders.ask\t', 'orders.ask\u0000', '_inbox.nothex']) {
      expect(tryDecodeEnvelope(JSON.stringify({ ...base, type })).malformed?.error, type).toContain('type')
    }
  })

  it(`refuses JSON nested deeper than ${MAX_NESTING_DEPTH} levels before parsing it, and counts brackets in strings as text`, () => {
    const deep = JSON.stringify({ ...base, data: 0 }).replace(
      '"data":0',
      `"data":${'['.repeat(5_000)}${']'.repeat(5_000)}`,
    )
    expect(tryDecodeEnvelope(deep).malformed?.error).toContain(`nested deeper than ${MAX_NESTING_DEPTH} levels`)
    const atLimit = `${'['.repeat(MAX_NESTING_DEPTH - 1)}${']'.repeat(MAX_NESTING_DEPTH - 1)}`
    expect(decodeEnvelope(JSON.stringify({ ...base, data: JSON.parse(atLimit) })).data).toEqual(JSON.parse(atLimit))
    expect(decodeEnvelope(JSON.stringify({ ...base, data: '['.repeat(5_000) })).data).toBe('['.repeat(5_000))
    expect(() => decodeEnvelope({ ...base, data: JSON.parse(`${'['.repeat(100)}${']'.repeat(100)}`) })).toThrow(
      ValidationError,
    )
  })
})

describe('replies', () => {
  /** A transport that hands the consumer envelope objects as they are (no decode), and records publishes. */
  function objectTransport() {
    const published: Envelope[] = []
    let onBatch: ((batch: Delivery[]) => Promise<void>) | undefined
    const transport: Transport = {
      name: 'objects',
      capabilities: { persistent: false, replay: false, ordering: 'none', delay: false, maxPayloadBytes: Infinity },
      publish: async (batch) => void published.push(...batch),
      subscribe: async (_spec, cb) => {
        onBatch = cb
        return { close: async () => {} }
      },
      close: async () => {},
    }
    const deliver = async (envelope: Envelope) => {
      const settled: { deadLetter?: DeadLetterReason; acked?: boolean } = {}
      const d: Delivery = {
        envelope,
        attempt: 1,
        ack: async () => {
          settled.acked = true
        },
        retry: async () => {},
        deadLetter: async (r) => {
          settled.deadLetter = r
        },
      }
      await onBatch!([d])
      return settled
    }
    return { transport, published, deliver }
  }

  it('a handler result is never published for a forged replyto, even from a transport that does not decode', async () => {
    const { transport, published, deliver } = objectTransport()
    const Ask = defineEvent('orders.ask', z.object({}), { reply: z.object({ ok: z.boolean() }) })
    const bus = createBus({ transport, source: 't', onError: () => {} })
    let handled = 0
    await bus.subscribe(Ask, () => {
      handled++
      return { ok: true }
    })
    const settled = await deliver({ ...base, specversion: '1.0', replyto: 'orders.other' })
    await eventually(() => settled.deadLetter !== undefined, 'the forged request to be dead-lettered')
    expect(settled.deadLetter).toMatchObject({ kind: 'malformed' })
    expect(settled.deadLetter!.error).toContain('replyto')
    expect(handled).toBe(0)
    expect(published).toEqual([])
    await bus.close()
  })

  it('a pattern subscription never publishes its handler result, even for a genuine request', async () => {
    const { transport, published, deliver } = objectTransport()
    const bus = createBus({ transport, source: 't', onError: () => {} })
    await bus.subscribe('orders.*', () => ({ ok: true }))
    const settled = await deliver({ ...base, specversion: '1.0', replyto: newInboxType() })
    await eventually(() => settled.acked === true, 'the request to be handled')
    expect(published).toEqual([])
    await bus.close()
  })
})
