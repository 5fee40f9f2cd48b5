import {
  assertEnvelope,
  assertHeaders,
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  envelopeIssues,
  headersOf,
  utf8Length,
  ValidationError,
} from '@tierbus/core'
import { describe, expect, it } from 'vitest'

const valid: Envelope = {
  specversion: '1.0',
  id: '0190a0a0-0000-7000-8000-000000000001',
  source: 'signalsloop/api',
  type: 'feedback.created',
  time: '2026-11-23T10:00:00.000Z',
  datacontenttype: 'application/json',
  data: { feedbackId: 'f1' },
  subject: 'f1',
  tenant: 'acme',
}

describe('envelope', () => {
  it('round-trips through encode and decode (string and bytes)', () => {
    const text = encodeEnvelope(valid)
    expect(decodeEnvelope(text)).toEqual(valid)
    expect(decodeEnvelope(Buffer.from(text))).toEqual(valid)
  })

  it('rejects text that is not JSON with a ValidationError saying so', () => {
    expect(() => decodeEnvelope('{oops')).toThrow(ValidationError)
    expect(() => decodeEnvelope('{oops')).toThrow(/not JSON/)
  })

  it('rejects an envelope missing required attributes, naming each one', () => {
    const err = (() => {
      try {
        decodeEnvelope({ specversion: '0.3', source: '', type: 'bad type!', time: 'yesterday' })
      } catch (e) {
        return e as ValidationError
      }
    })()
    expect(err).toBeInstanceOf(ValidationError)
    const paths = err!.issues.map((i) => i.path)
    expect(paths).toEqual(expect.arrayContaining(['specversion', 'id', 'source', 'type', 'time']))
  })

  it('rejects an envelope over the size limit with the size and the limit in the message', () => {
    const big = { ...valid, data: { pad: 'x'.repeat(2000) } }
    expect(() => encodeEnvelope(big, 1000, 'redis')).toThrow(ValidationError)
    expect(() => encodeEnvelope(big, 1000, 'redis')).toThrow(/bytes encoded, over the redis limit of 1000 bytes/)
    expect(encodeEnvelope(big, 10_000)).toContain('"pad"')
  })

  it('counts multi-byte characters when enforcing the limit', () => {
    const emoji = { ...valid, data: { text: '\u{1F600}'.repeat(300) } }
    const chars = JSON.stringify(emoji).length
    expect(() => encodeEnvelope(emoji, chars + 100)).toThrow(ValidationError)
  })

  it('measures UTF-8 size without Buffer exactly as Node encodes it (ASCII, 2-, 3-, 4-byte and lone surrogates)', () => {
    for (const text of [
      '',
      'plain',
      'caf\u00e9',
      '\u20ac100',
      '\u{1F600}x\u{1F600}',
      'a\ud800b',
      '\udc00',
      'end\ud83d',
    ]) {
      expect(utf8Length(text), JSON.stringify(text)).toBe(Buffer.byteLength(text, 'utf8'))
    }
  })

  it('accepts lowercase extension headers and rejects reserved or invalid names', () => {
    expect(() => assertHeaders({ tenant: 'acme', region2: 'eu' })).not.toThrow()
    expect(() => assertHeaders({ Tenant: 'x' })).toThrow(ValidationError)
    expect(() => assertHeaders({ subject: 'x' })).toThrow(/must not be one of/)
    expect(headersOf(valid)).toEqual({ tenant: 'acme' })
  })
})

describe('envelope checks', () => {
  // assertEnvelope has a fast path for clean envelopes; it must accept exactly what envelopeIssues finds nothing in.
  const variants: Array<[string, unknown]> = [
    ['valid', valid],
    ['array', [valid]],
    ['null', null],
    ['string', 'x'],
    ...(['specversion', 'id', 'source', 'type', 'time'] as const).flatMap(
      (key): Array<[string, unknown]> => [
        [`${key} missing`, { ...valid, [key]: undefined }],
        [`${key} empty`, { ...valid, [key]: '' }],
        [`${key} number`, { ...valid, [key]: 1 }],
      ],
    ),
    ['specversion 1.1', { ...valid, specversion: '1.1' }],
    ['type with space', { ...valid, type: 'a b' }],
    ['type forged inbox', { ...valid, type: '_inbox.zz' }],
    ['type inbox', { ...valid, type: '_inbox.0123456789abcdef' }],
    ['time not a date', { ...valid, time: 'yesterday' }],
    ['time date only', { ...valid, time: '2026-11-23' }],
    ['replyto inbox', { ...valid, replyto: '_inbox.0123456789abcdef' }],
    ['replyto forged', { ...valid, replyto: 'billing.charge' }],
    ['replyto number', { ...valid, replyto: 7 }],
    ['replyto null', { ...valid, replyto: null }],
    ...(
      ['subject', 'traceparent', 'tracestate', 'correlationid', 'replyerror', 'deliverat', 'datacontenttype'] as const
    ).flatMap(
      (key): Array<[string, unknown]> => [
        [`${key} number`, { ...valid, [key]: 1 }],
        [`${key} null`, { ...valid, [key]: null }],
        [`${key} object`, { ...valid, [key]: {} }],
      ],
    ),
    ['datacontenttype text/plain', { ...valid, datacontenttype: 'text/plain' }],
    ['datacontenttype absent', { ...valid, datacontenttype: undefined }],
  ]

  it.each(variants)('assertEnvelope accepts exactly what envelopeIssues passes (%s)', (_name, value) => {
    const issues = envelopeIssues(value)
    if (issues.length === 0) expect(() => assertEnvelope(value)).not.toThrow()
    else {
      const message = `malformed event envelope: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`
      expect(() => assertEnvelope(value)).toThrow(message)
    }
    // And decoding the same body as text says the same (undefined attributes vanish in JSON, as on the wire).
    if (value !== null && typeof value === 'object') {
      const text = JSON.stringify(value)
      const onWire = envelopeIssues(JSON.parse(text))
      if (onWire.length === 0) expect(decodeEnvelope(text)).toEqual(JSON.parse(text))
      else expect(() => decodeEnvelope(text)).toThrow(ValidationError)
    }
  })
})

describe('typed errors', () => {
  it('are recognised by instanceof across copies of the module (ESM and CJS builds loaded side by side)', async () => {
    const { createRequire } = await import('node:module')
    const { existsSync } = await import('node:fs')
    const cjsPath = new URL('../dist/index.cjs', import.meta.url)
    if (!existsSync(cjsPath))
      throw new Error('build @tierbus/core first (npm run build): this test loads its CJS build next to the source')
    const other = createRequire(import.meta.url)(cjsPath.pathname) as typeof import('@tierbus/core')
    const {
      ValidationError: SourceValidation,
      ConfigError: SourceConfig,
      TierbusError: SourceTierbus,
    } = await import('@tierbus/core')
    const foreign = new other.ValidationError('bad data')
    expect(other.ValidationError).not.toBe(SourceValidation)
    expect(foreign).toBeInstanceOf(SourceValidation)
    expect(foreign).toBeInstanceOf(SourceTierbus)
    expect(foreign).not.toBeInstanceOf(SourceConfig)
    expect(new SourceConfig('x')).toBeInstanceOf(other.ConfigError)
    expect(new Error('plain')).not.toBeInstanceOf(SourceTierbus)
  })
})
