import { isInboxType } from '@tierbus/core'

/**
 * Attribute and metric names from the OpenTelemetry messaging semantic conventions (development status;
 * the names of semconv 1.27+, where the operation type of a publish is `send`). Kept here, not imported
 * from `@opentelemetry/semantic-conventions`' incubating entry, so the only runtime dependency is the API.
 */
export const ATTR = Object.freeze({
  system: 'messaging.system',
  destination: 'messaging.destination.name',
  temporary: 'messaging.destination.temporary',
  consumerGroup: 'messaging.consumer.group.name',
  messageId: 'messaging.message.id',
  conversationId: 'messaging.message.conversation_id',
  batchCount: 'messaging.batch.message_count',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  errorType: 'error.type',
  /** tierbus's own: the delivery attempt (1 on first delivery). */
  attempt: 'tierbus.delivery.attempt',
  /** tierbus's own: how a delivery was settled (`acked`, `retried`, `dead-lettered`). */
  settleOutcome: 'tierbus.settle.outcome',
} as const)

/** `messaging.operation.type` values. */
export const OPERATION = Object.freeze({
  create: 'create',
  send: 'send',
  process: 'process',
  settle: 'settle',
} as const)

/** Metric names: the semconv messaging metrics, plus tierbus's settle count and group lag. */
export const METRIC = Object.freeze({
  sent: 'messaging.client.sent.messages',
  operationDuration: 'messaging.client.operation.duration',
  consumed: 'messaging.client.consumed.messages',
  processDuration: 'messaging.process.duration',
  settled: 'tierbus.consumer.settled.messages',
  lag: 'tierbus.consumer.group.lag',
} as const)

/** The instrumentation scope name of tracers and meters. */
export const INSTRUMENTATION_SCOPE = '@tierbus/otel'

/**
 * `messaging.destination.name` of an event type. Request-reply inboxes are random per-process names, so
 * they are all `(temporary)`, as semconv names temporary destinations (low-cardinality span and metric names).
 */
export function destinationName(type: string): string {
  return isInboxType(type) ? '(temporary)' : type
}

/** `error.type` of a failure: the error's class name (low cardinality, as semconv asks), `_OTHER` when unknown. */
export function errorType(err: unknown): string {
  const name = err instanceof Error ? err.name : undefined
  return typeof name === 'string' && name.length > 0 ? name : '_OTHER'
}
