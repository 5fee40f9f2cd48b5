/** A parsed W3C `traceparent`: the trace, the parent span, and whether the caller sampled it. */
export interface Traceparent {
  readonly traceId: string
  readonly spanId: string
  readonly sampled: boolean
}

/** Longest `tracestate` a publish accepts: the 512 characters W3C Trace Context asks every vendor to pass on. */
export const MAX_TRACESTATE_LENGTH = 512

// version-traceid-parentid-flags; a version after 00 may append fields after another dash.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/
const ZEROS = /^0+$/

/**
 * Parses a W3C Trace Context `traceparent` (the CloudEvents distributed-tracing extension carries it);
 * undefined unless it is one: version `ff`, all-zero ids, or extra fields on version 00 are refused.
 */
export function parseTraceparent(value: unknown): Traceparent | undefined {
  if (typeof value !== 'string') return undefined
  const m = TRACEPARENT.exec(value)
  if (!m) return undefined
  const [, version, traceId, spanId, flags, rest] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ]
  if (version === 'ff' || (version === '00' && rest !== undefined) || ZEROS.test(traceId) || ZEROS.test(spanId))
    return undefined
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 }
}
