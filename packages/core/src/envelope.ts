import { parseTime } from './clock.js'
import { ValidationError, type ValidationIssue } from './errors.js'
import { exceedsNestingDepth, MAX_NESTING_DEPTH } from './nesting.js'
import { isInboxType, publishableTypeIssue, replyToIssue } from './subjects.js'

/**
 * A CloudEvents 1.0 event in structured JSON form, plus tierbus extension attributes.
 * User headers travel as extra extension attributes (lowercase letters and digits).
 */
export interface Envelope<TData = unknown> {
  specversion: '1.0'
  /** Unique, sortable (UUIDv7) id; also the idempotency key consumers dedupe on. */
  id: string
  /** Producer, e.g. `signalsloop/api`. */
  source: string
  /** Event type, e.g. `feedback.created`. */
  type: string
  /** RFC 3339 creation time. */
  time: string
  datacontenttype?: string
  data: TData
  /** Ordering / partition key: events with one subject keep their order where the tier can. */
  subject?: string
  /** W3C `traceparent` of the publisher (CloudEvents distributed-tracing extension). */
  traceparent?: string
  /** W3C `tracestate` that goes with `traceparent` (vendor entries), if any. */
  tracestate?: string
  /** Correlates a reply with its request, or an event with the one that caused it. */
  correlationid?: string
  /** Where a request's reply goes: a request-reply inbox type (`_inbox.<16 hex>`) set by `bus.request()`, nothing else. */
  replyto?: string
  /** Set on a reply whose request handler failed: the error, so the requester need not time out. */
  replyerror?: string
  /** Schema version of `data`. */
  dataversion?: number
  /** RFC 3339 time before which the event must not be delivered (`delayMs`). */
  deliverat?: string
  /** Other extension attributes (user headers). */
  [extension: string]: unknown
}

/** CloudEvents context attributes and tierbus extensions that are not user headers. */
export const RESERVED_ATTRIBUTES: ReadonlySet<string> = new Set([
  'specversion',
  'id',
  'source',
  'type',
  'time',
  'datacontenttype',
  'dataschema',
  'data',
  'data_base64',
  'subject',
  'traceparent',
  'tracestate',
  'correlationid',
  'replyto',
  'replyerror',
  'dataversion',
  'deliverat',
  'payloadref',
])

const HEADER_NAME = /^[a-z0-9]{1,20}$/

/** Throws a ValidationError unless every header is a valid, non-reserved CloudEvents extension with a string value. */
export function assertHeaders(headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name) || RESERVED_ATTRIBUTES.has(name)) {
      throw new ValidationError(
        `invalid header name '${name}': CloudEvents extension names are 1-20 lowercase letters or digits and must not be one of ${[...RESERVED_ATTRIBUTES].join(', ')}`,
      )
    }
    if (typeof value !== 'string') throw new ValidationError(`header '${name}' must be a string, got ${typeof value}`)
  }
}

/** The user headers (non-reserved extension attributes) of an envelope. */
export function headersOf(envelope: Envelope): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const key in envelope) {
    if (!RESERVED_ATTRIBUTES.has(key) && typeof envelope[key] === 'string') headers[key] = envelope[key] as string
  }
  return headers
}

/** Checks the required CloudEvents attributes; returns the problems found (empty when valid). */
export function envelopeIssues(value: unknown): ValidationIssue[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [{ path: '', message: 'expected a CloudEvents JSON object' }]
  }
  const e = value as Record<string, unknown>
  const issues: ValidationIssue[] = []
  if (e.specversion !== '1.0')
    issues.push({ path: 'specversion', message: `expected "1.0", got ${JSON.stringify(e.specversion)}` })
  for (const key of ['id', 'source', 'type', 'time'] as const) {
    if (typeof e[key] !== 'string' || (e[key] as string).length === 0)
      issues.push({ path: key, message: 'expected a non-empty string' })
  }
  if (typeof e.type === 'string' && e.type.length > 0) {
    const typeIssue = publishableTypeIssue(e.type)
    if (typeIssue) issues.push({ path: 'type', message: typeIssue })
  }
  // A forged reply target is how a message makes its consumer publish somewhere else: only core's inbox grammar passes.
  if (e.replyto !== undefined) {
    const replyIssue = replyToIssue(e.replyto)
    if (replyIssue) issues.push({ path: 'replyto', message: replyIssue })
  }
  if (typeof e.time === 'string' && Number.isNaN(Date.parse(e.time)))
    issues.push({ path: 'time', message: 'expected an RFC 3339 timestamp' })
  for (const key of [
    'subject',
    'traceparent',
    'tracestate',
    'correlationid',
    'replyerror',
    'deliverat',
    'datacontenttype',
  ] as const) {
    if (e[key] !== undefined && typeof e[key] !== 'string') issues.push({ path: key, message: 'expected a string' })
  }
  if (e.datacontenttype !== undefined && e.datacontenttype !== 'application/json') {
    issues.push({
      path: 'datacontenttype',
      message: `only application/json is supported, got ${JSON.stringify(e.datacontenttype)}`,
    })
  }
  return issues
}

/**
 * True exactly when `envelopeIssues(value)` finds nothing: the same checks, in straight-line reads of named
 * properties (every decoded envelope shares one hidden class, so each read is one map check) and without
 * building an issue list. The hot path of every decode; anything it rejects goes through `envelopeIssues`,
 * which stays the one place that words the problems. Keep the two in step: a check added there goes here.
 */
function isCleanEnvelope(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const e = value as Record<string, unknown>
  if (e.specversion !== '1.0') return false
  const { id, source, type, time } = e
  if (typeof id !== 'string' || id.length === 0 || typeof source !== 'string' || source.length === 0) return false
  if (typeof type !== 'string' || type.length === 0 || publishableTypeIssue(type) !== undefined) return false
  // parseTime is Date.parse memoized on the text (the consumer reads it again for its end-to-end time).
  if (typeof time !== 'string' || time.length === 0 || Number.isNaN(parseTime(time))) return false
  // replyToIssue(x) is undefined exactly when isInboxType(x).
  if (e.replyto !== undefined && !isInboxType(e.replyto)) return false
  if (e.subject !== undefined && typeof e.subject !== 'string') return false
  if (e.traceparent !== undefined && typeof e.traceparent !== 'string') return false
  if (e.tracestate !== undefined && typeof e.tracestate !== 'string') return false
  if (e.correlationid !== undefined && typeof e.correlationid !== 'string') return false
  if (e.replyerror !== undefined && typeof e.replyerror !== 'string') return false
  if (e.deliverat !== undefined && typeof e.deliverat !== 'string') return false
  // Undefined or exactly application/json (which is a string, so the "expected a string" check passes too).
  return e.datacontenttype === undefined || e.datacontenttype === 'application/json'
}

/** Throws a ValidationError unless `value` is a well-formed envelope. */
export function assertEnvelope(value: unknown): asserts value is Envelope {
  if (isCleanEnvelope(value)) return
  const issues = envelopeIssues(value)
  if (issues.length > 0) {
    throw new ValidationError(
      `malformed event envelope: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`,
      issues,
    )
  }
}

/**
 * Throws a ValidationError unless the envelope may leave through a tier: its `type` is an event type (or
 * exactly an inbox type) and its `replyto`, if any, is exactly an inbox type. Every tier calls this in its
 * own `publish`, so a transport used without the bus cannot put a forged subject, key or reply target on
 * the wire either. Cheap: two precompiled regex tests.
 */
export function assertPublishable(envelope: Envelope): void {
  const typeIssue = publishableTypeIssue(envelope?.type)
  if (typeIssue) throw new ValidationError(`refusing to publish: ${typeIssue}`, [{ path: 'type', message: typeIssue }])
  if (envelope.replyto !== undefined) {
    const replyIssue = replyToIssue(envelope.replyto)
    if (replyIssue)
      throw new ValidationError(`refusing to publish '${envelope.type}': ${replyIssue}`, [
        { path: 'replyto', message: replyIssue },
      ])
  }
}

const TOO_DEEP = `nested deeper than ${MAX_NESTING_DEPTH} levels; tierbus refuses such bodies so that no reader (listing, redrive, JSON.stringify) can overflow its stack`

/** Parses the structured-JSON form (string, bytes or already-parsed object) into a checked envelope. */
export function decodeEnvelope(input: string | Uint8Array | object): Envelope {
  let value: unknown = input
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const text = typeof input === 'string' ? input : utf8.decode(input)
    // Checked on the text, before parsing: a 5,000-deep body never becomes an object graph.
    if (exceedsNestingDepth(text))
      throw new ValidationError(`malformed event envelope: ${TOO_DEEP}`, [{ path: '', message: TOO_DEEP }])
    try {
      value = JSON.parse(text)
    } catch (err) {
      throw new ValidationError(
        `malformed event envelope: not JSON (${(err as Error).message}); the message was not produced by tierbus or was corrupted`,
        [],
        { cause: err },
      )
    }
  } else if (exceedsNestingDepth(value)) {
    throw new ValidationError(`malformed event envelope: ${TOO_DEEP}`, [{ path: '', message: TOO_DEEP }])
  }
  assertEnvelope(value)
  return value
}

/** A decoded message: its envelope, or (when it is not one) the raw text and why. */
export type DecodedMessage =
  | { readonly envelope: Envelope; readonly malformed?: undefined }
  | { readonly envelope?: undefined; readonly malformed: { readonly raw: string; readonly error: string } }

/**
 * Decodes a message body without throwing: what a transport hands core as `Delivery.envelope` or
 * `Delivery.malformed` (core dead-letters the latter with the reason), and what a DLQ listing shows.
 */
export function tryDecodeEnvelope(input: string | Uint8Array): DecodedMessage {
  try {
    return { envelope: decodeEnvelope(input) }
  } catch (err) {
    const raw = typeof input === 'string' ? input : utf8.decode(input)
    return { malformed: { raw, error: err instanceof Error ? err.message : String(err) } }
  }
}

// Web APIs rather than Buffer, so core runs in edge runtimes too.
const utf8 = new TextDecoder()

/** Byte size of a string as UTF-8 (a lone surrogate counts as U+FFFD, 3 bytes, as encoders write it). */
export function utf8Length(text: string): number {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    else if ((c & 0xfc00) === 0xd800 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4
      i++
    } else bytes += 3
  }
  return bytes
}

/**
 * Serializes an envelope to structured JSON, rejecting it with a ValidationError naming the size and
 * the limit when it is larger than `maxBytes` (the tier's `capabilities.maxPayloadBytes`).
 */
export function encodeEnvelope(envelope: Envelope, maxBytes = Number.POSITIVE_INFINITY, tier = 'this tier'): string {
  const text = JSON.stringify(envelope)
  if (text.length * 3 > maxBytes) {
    const size = utf8Length(text)
    if (size > maxBytes) {
      throw new ValidationError(
        `event '${envelope.type}' (${envelope.id}) is ${size} bytes encoded, over the ${tier} limit of ${maxBytes} bytes: make the payload smaller, or store it elsewhere and publish a reference`,
        [{ path: 'data', message: `encoded size ${size} > ${maxBytes}` }],
      )
    }
  }
  return text
}
