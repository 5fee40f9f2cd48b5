export type {
  Bus,
  BusOptions,
  BusSubscription,
  CloseOptions,
  OutgoingEvent,
  PublishOptions,
  RequestOptions,
  SubscribeOptions,
} from './bus.js'
export { BUS_DEFAULTS, createBus, outgoing } from './bus.js'
export { capabilitiesOf, intersectCapabilities } from './capabilities.js'
export type { ClaimCheckOptions } from './claim-check.js'
export { CLAIM_CHECK_DEFAULTS, claimCheckTransport, PAYLOAD_REF_ATTRIBUTE } from './claim-check.js'
export type { LabelledDeadLetters } from './combined-dead-letters.js'
export { combineDeadLetters } from './combined-dead-letters.js'
export type { ConsumerOptions, ErrorListener, Handler } from './consumer.js'
export type { ClaimResult, DedupStore } from './dedup-store.js'
export { DEDUP_DEFAULTS, dedupStateValue, memoryDedupStore } from './dedup-store.js'
export type { AdapterOptions, BusFromEnvOptions } from './env.js'
export { createBusFromEnv, memoryAdapter, transportFromEnv } from './env.js'
export type { DecodedMessage, Envelope } from './envelope.js'
export {
  assertEnvelope,
  assertHeaders,
  assertPublishable,
  decodeEnvelope,
  encodeEnvelope,
  envelopeIssues,
  headersOf,
  RESERVED_ATTRIBUTES,
  tryDecodeEnvelope,
  utf8Length,
} from './envelope.js'
export type { ValidationIssue } from './errors.js'
export { ConfigError, describeError, TierbusError, TimeoutError, TransportError, ValidationError } from './errors.js'
export type {
  AnyEventDefinition,
  DefineEventOptions,
  EventDefinition,
  EventInput,
  EventOutput,
  ReplyInput,
  ReplyOutput,
} from './events.js'
export { defineEvent, issuesOf, parseData, summarizeIssues } from './events.js'
export type { LatencyBuckets, LatencySummary } from './histogram.js'
export { LATENCY_BUCKET_BOUNDS_MS, LatencyHistogram, RateWindow } from './histogram.js'
export type { IdempotentOptions } from './idempotent.js'
export { IDEMPOTENT_DEFAULTS, idempotent } from './idempotent.js'
export { newEventId, timeOfId } from './ids.js'
export type { MemoryTransportApi, MemoryTransportOptions } from './memory.js'
export { MEMORY_CAPABILITIES, MEMORY_DEFAULTS, memoryTransport } from './memory.js'
export type { EventCounts, GroupMetrics, MetricsSnapshot, TypeMetrics } from './metrics.js'
export { Metrics } from './metrics.js'
export type { HandleContext, Middleware, PublishContext, PublishNext, SettleOutcome } from './middleware.js'
export { exceedsNestingDepth, MAX_NESTING_DEPTH } from './nesting.js'
export type { MemoryPayloadStoreOptions, PayloadStore } from './payload-store.js'
export { isPayloadId, memoryPayloadStore, newPayloadId, PAYLOAD_RETENTION_DEFAULT_MS } from './payload-store.js'
export type { MetricsSource } from './prometheus.js'
export { PROMETHEUS_CONTENT_TYPE, prometheusText } from './prometheus.js'
export type { RawEncoding } from './raw-body.js'
export { deadLetterBody, rawBodyOf } from './raw-body.js'
export type { ReceivedEvent } from './received.js'
export { REDACTED, redactSecrets } from './redact.js'
export type { AdapterContext, Env, TierAdapter } from './registry.js'
export { isTierAdapter, KNOWN_ADAPTERS } from './registry.js'
export type { RetryOptions, RetryPolicy } from './retry.js'
export { backoffDelay, DEFAULT_RETRY, resolveRetry } from './retry.js'
export type { RoutedTransport, RoutedTransportOptions, TransportRoute } from './routed.js'
export { routedTransport } from './routed.js'
export type { RouteSpec } from './routes-format.js'
export { formatRoutes, parseRoutes, routeMigration } from './routes-format.js'
export {
  assertEventType,
  assertPattern,
  assertPublishableType,
  compilePattern,
  INBOX_PREFIX,
  isEventType,
  isInboxType,
  isInternalType,
  isWildcard,
  literalPrefix,
  MAX_EVENT_TYPE_LENGTH,
  matchesPattern,
  newInboxType,
  patternCovers,
  patternIntersection,
  publishableTypeIssue,
  replyToIssue,
} from './subjects.js'
export type { Traceparent } from './trace-context.js'
export { MAX_TRACESTATE_LENGTH, parseTraceparent } from './trace-context.js'
export type {
  Capabilities,
  DeadLetter,
  DeadLetterKind,
  DeadLetterReason,
  DeadLetterStore,
  Delivery,
  Subscription,
  SubscriptionSpec,
  Transport,
  TransportErrorContext,
  TransportErrorListener,
} from './transport.js'
export { DEAD_LETTER_KINDS } from './transport.js'
