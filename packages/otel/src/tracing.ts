import {
  type Attributes,
  type Context,
  type Link,
  context as otelContext,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api'
import { type Envelope, type HandleContext, isInboxType, type PublishContext, type SettleOutcome } from '@tierbus/core'
import { ATTR, destinationName, errorType, OPERATION } from './attributes.js'
import { spanContextOf, writeSpanContext } from './trace-context.js'

/** Most request handlings remembered at once for parenting their replies (the oldest is forgotten first). */
const MAX_PENDING_REPLIES = 10_000

/**
 * Spans per the OTel messaging conventions. A publish of one event is one PRODUCER `publish <type>`
 * span whose context goes into the envelope; a batch gets a PRODUCER `create <type>` span per event
 * (its context goes into that envelope) and one `publish` span linking them. A handling is a CONSUMER
 * `process <type>` span that links the creation context and is its child (so one trace runs from
 * publisher to handler); its settlement is a CLIENT `<outcome> <type>` span under it.
 */
export class MessagingTracer {
  /** Process span contexts of requests being handled, by request id: a reply's publish span goes under them. */
  private readonly requests = new Map<string, SpanContext>()

  constructor(private readonly tracer: Tracer) {}

  async publish(ctx: PublishContext, next: (envelopes: readonly Envelope[]) => Promise<void>): Promise<void> {
    const { envelopes, tier } = ctx
    const first = envelopes[0]
    if (!first) return next(envelopes)
    const parent = this.publishParent(first)
    const single = envelopes.length === 1
    const destination = single || envelopes.every((e) => e.type === first.type) ? first.type : undefined
    const attributes: Attributes = {
      [ATTR.system]: tier,
      [ATTR.operationType]: OPERATION.send,
      [ATTR.operationName]: 'publish',
    }
    if (destination !== undefined) attributes[ATTR.destination] = destinationName(destination)
    if (isInboxType(first.type)) attributes[ATTR.temporary] = true
    if (single) {
      attributes[ATTR.messageId] = first.id
      if (first.correlationid !== undefined) attributes[ATTR.conversationId] = first.correlationid
    } else attributes[ATTR.batchCount] = envelopes.length
    const links: Link[] = []
    if (!single) {
      for (const envelope of envelopes) {
        const create = this.tracer.startSpan(
          `create ${destinationName(envelope.type)}`,
          {
            kind: SpanKind.PRODUCER,
            attributes: {
              [ATTR.system]: tier,
              [ATTR.destination]: destinationName(envelope.type),
              [ATTR.messageId]: envelope.id,
              [ATTR.operationType]: OPERATION.create,
              [ATTR.operationName]: 'create',
            },
          },
          parent,
        )
        writeSpanContext(envelope, create.spanContext())
        links.push({ context: create.spanContext() })
        create.end()
      }
    }
    const span = this.tracer.startSpan(
      `publish ${destination === undefined ? 'batch' : destinationName(destination)}`,
      { kind: SpanKind.PRODUCER, attributes, links },
      parent,
    )
    if (single) writeSpanContext(first, span.spanContext())
    try {
      await otelContext.with(trace.setSpan(parent, span), () => next(envelopes))
    } catch (err) {
      fail(span, err)
      throw err
    } finally {
      span.end()
    }
  }

  async handle(ctx: HandleContext, next: () => Promise<unknown>): Promise<unknown> {
    const envelope = ctx.event.envelope
    const creation = spanContextOf(envelope)
    // The creation context is the parent (semconv allows it for a single message), so one trace runs from
    // publisher to handler on every tier, whatever context the tier's callback happens to run in.
    const active = otelContext.active()
    const parent = creation ? trace.setSpanContext(active, creation) : active
    const destination = destinationName(envelope.type)
    const base: Attributes = {
      [ATTR.system]: ctx.tier,
      [ATTR.destination]: destination,
      [ATTR.consumerGroup]: ctx.group,
      [ATTR.messageId]: envelope.id,
    }
    if (envelope.correlationid !== undefined) base[ATTR.conversationId] = envelope.correlationid
    const span = this.tracer.startSpan(
      `process ${destination}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          ...base,
          [ATTR.operationType]: OPERATION.process,
          [ATTR.operationName]: 'process',
          [ATTR.attempt]: ctx.attempt,
        },
        links: creation ? [{ context: creation }] : [],
      },
      parent,
    )
    const processed = trace.setSpan(parent, span)
    if (envelope.replyto !== undefined) this.rememberRequest(envelope.id, span.spanContext())
    let handledAt = 0
    ctx.onSettled((outcome) => {
      this.requests.delete(envelope.id)
      this.settleSpan(outcome, destination, base, processed, handledAt)
    })
    try {
      return await otelContext.with(processed, next)
    } catch (err) {
      fail(span, err)
      throw err
    } finally {
      handledAt = Date.now()
      span.end()
    }
  }

  /**
   * The parent of a publish: for a reply, the process span of the request it answers (the consumer sends
   * replies outside the handler's context); else the active span; else the caller's own `traceparent`.
   */
  private publishParent(envelope: Envelope): Context {
    const active = otelContext.active()
    const request =
      isInboxType(envelope.type) && envelope.correlationid !== undefined
        ? this.requests.get(envelope.correlationid)
        : undefined
    if (request) return trace.setSpanContext(active, request)
    if (trace.getSpan(active) !== undefined) return active
    const supplied = spanContextOf(envelope)
    return supplied ? trace.setSpanContext(active, supplied) : active
  }

  private rememberRequest(id: string, context: SpanContext): void {
    if (this.requests.size >= MAX_PENDING_REPLIES) {
      const oldest = this.requests.keys().next().value
      if (oldest !== undefined) this.requests.delete(oldest)
    }
    this.requests.set(id, context)
  }

  /** A CLIENT span from the handler's end to the tier's settlement, named by the outcome. */
  private settleSpan(
    outcome: SettleOutcome,
    destination: string,
    base: Attributes,
    parent: Context,
    startedAt: number,
  ): void {
    const span = this.tracer.startSpan(
      `${outcome} ${destination}`,
      {
        kind: SpanKind.CLIENT,
        startTime: startedAt || Date.now(),
        attributes: {
          ...base,
          [ATTR.operationType]: OPERATION.settle,
          [ATTR.operationName]: outcome,
          [ATTR.settleOutcome]: outcome,
        },
      },
      parent,
    )
    if (outcome === 'dead-lettered') span.setStatus({ code: SpanStatusCode.ERROR, message: 'dead-lettered' })
    span.end()
  }
}

function fail(span: Span, err: unknown): void {
  span.setAttribute(ATTR.errorType, errorType(err))
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) })
  if (err instanceof Error) span.recordException(err)
}
