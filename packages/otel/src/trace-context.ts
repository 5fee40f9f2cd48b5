import { createTraceState, type SpanContext, TraceFlags } from '@opentelemetry/api'
import { type Envelope, MAX_TRACESTATE_LENGTH, parseTraceparent } from '@tierbus/core'

/**
 * The publisher's span context carried by an envelope (the CloudEvents distributed-tracing extension:
 * `traceparent`, `tracestate`), or undefined when it carries none or a malformed one. Envelopes are hostile
 * input: a value that is not W3C Trace Context is ignored (the consumer starts a new trace), never trusted, and
 * a `tracestate` longer than W3C's 512 characters is dropped.
 */
export function spanContextOf(envelope: Envelope): SpanContext | undefined {
  const parsed = parseTraceparent(envelope.traceparent)
  if (!parsed) return undefined
  const context: SpanContext = {
    traceId: parsed.traceId,
    spanId: parsed.spanId,
    traceFlags: parsed.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote: true,
  }
  if (
    typeof envelope.tracestate === 'string' &&
    envelope.tracestate.length > 0 &&
    envelope.tracestate.length <= MAX_TRACESTATE_LENGTH
  )
    context.traceState = createTraceState(envelope.tracestate)
  return context
}

/** Writes a span context into an envelope as `traceparent` (and `tracestate` when it has entries). */
export function writeSpanContext(envelope: Envelope, context: SpanContext): void {
  envelope.traceparent = `00-${context.traceId}-${context.spanId}-0${context.traceFlags & TraceFlags.SAMPLED}`
  const state = context.traceState?.serialize()
  if (state) envelope.tracestate = state
  else delete envelope.tracestate
}
