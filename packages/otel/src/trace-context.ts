import { createTraceState, isSpanContextValid, type SpanContext } from '@opentelemetry/api'
import type { Envelope } from '@tierbus/core'

// W3C Trace Context: version-traceid-parentid-flags; a future version may append fields after a dash.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/

/**
 * The publisher's span context carried by an envelope (the CloudEvents distributed-tracing extension:
 * `traceparent`, `tracestate`), or undefined when it carries none or a malformed one. Envelopes are hostile
 * input: a value that is not W3C Trace Context is ignored (the consumer starts a new trace), never trusted.
 */
export function spanContextOf(envelope: Envelope): SpanContext | undefined {
  const header = envelope.traceparent
  if (typeof header !== 'string') return undefined
  const m = TRACEPARENT.exec(header)
  if (!m || m[1] === 'ff' || (m[1] === '00' && m[5] !== undefined)) return undefined
  const context: SpanContext = { traceId: m[2] as string, spanId: m[3] as string, traceFlags: parseInt(m[4] as string, 16) & 1, isRemote: true }
  if (!isSpanContextValid(context)) return undefined
  if (typeof envelope.tracestate === 'string' && envelope.tracestate.length > 0) context.traceState = createTraceState(envelope.tracestate)
  return context
}

/** Writes a span context into an envelope as `traceparent` (and `tracestate` when it has entries). */
export function writeSpanContext(envelope: Envelope, context: SpanContext): void {
  envelope.traceparent = `00-${context.traceId}-${context.spanId}-0${context.traceFlags & 1}`
  const state = context.traceState?.serialize()
  if (state) envelope.tracestate = state
  else delete envelope.tracestate
}
