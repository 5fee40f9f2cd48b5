import type { Envelope } from './envelope.js'

/**
 * What a tier can do. Core refuses options a tier cannot honour (at subscribe/publish time, with a
 * ConfigError), and the conformance suite skips exactly the cases a tier declares it cannot pass.
 */
export interface Capabilities {
  /** Events survive a restart of the app process (they live in a service, not in memory). */
  readonly persistent: boolean
  /** A new group can start from the earliest retained event (`startFrom: 'earliest'`). */
  readonly replay: boolean
  /**
   * Order kept for one group: `per-key` means events with the same `subject` are delivered in publish
   * order, one at a time, when the subscription asks for `ordered`; `none` means no promise.
   */
  readonly ordering: 'none' | 'per-key'
  /** Honours the envelope's `deliverat` (publish option `delayMs`). */
  readonly delay: boolean
  /** Largest encoded envelope in bytes (`Infinity` when unlimited). */
  readonly maxPayloadBytes: number
}

/** What the consumer runtime asks a transport to subscribe with. Every field is set (core fills defaults). */
export interface SubscriptionSpec {
  /** Event type or NATS-style pattern (`agent.*.heartbeat`, `work.nlp.>`). Must match types created later too. */
  readonly pattern: string
  /** Consumer group: each group gets every matching event once; members of a group compete. */
  readonly group: string
  /** Where a group that does not exist yet starts: new events only, or the earliest retained one. */
  readonly startFrom: 'latest' | 'earliest'
  /** Most deliveries handed to this subscriber and not yet settled (the prefetch / batch size bound). */
  readonly maxInFlight: number
  /** An unsettled delivery is handed out again (to any member) this long after it was handed out, unless touched. */
  readonly leaseMs: number
  /** Attempts core makes before dead-lettering; tiers with native redrive (SQS `maxReceiveCount`) configure it from this. */
  readonly maxAttempts: number
  /** Deliver same-`subject` events one at a time in publish order (only where `capabilities.ordering` is `per-key`). */
  readonly ordered: boolean
  /** A private, short-lived subscription (a request-reply inbox): its state may be deleted when it closes. */
  readonly ephemeral: boolean
}

/** Where a transport's `onError` says which background operation failed, and for which group. */
export interface TransportErrorContext {
  /** What the transport was doing, e.g. `'fetch'`, `'ack'`, `'connection'`, `'listen'`. */
  readonly operation: string
  /** The consumer group concerned, when the failure belongs to one. */
  readonly group?: string
}

/**
 * The `onError` option of every tier: errors nobody awaits (a failed background fetch, a lost
 * connection). A one-argument `(error) => void` listener is assignable too.
 */
export type TransportErrorListener = (error: unknown, context: TransportErrorContext) => void

/** Why a message was dead-lettered. */
export const DEAD_LETTER_KINDS = {
  /** The handler threw on its last allowed attempt. */
  handlerFailed: 'handler-failed',
  /** The data does not match the event's schema; dead-lettered at once, never retried. */
  invalidPayload: 'invalid-payload',
  /** The message is not a decodable CloudEvent; dead-lettered at once. */
  malformed: 'malformed',
} as const

/** One of `DEAD_LETTER_KINDS`. */
export type DeadLetterKind = (typeof DEAD_LETTER_KINDS)[keyof typeof DEAD_LETTER_KINDS]

/** The reason recorded with a dead letter. */
export interface DeadLetterReason {
  readonly kind: DeadLetterKind
  /** The last error, e.g. `Error: sentiment API 503`. */
  readonly error: string
  /** Attempts made, including the last one. */
  readonly attempts: number
}

/**
 * One message handed to a subscriber. Exactly one of `ack`, `retry`, `deadLetter` settles it; a
 * delivery left unsettled is handed out again after the subscription's `leaseMs` (crash recovery).
 * Settling may happen after the subscription was closed. Settling twice is a no-op.
 */
export interface Delivery {
  /** The decoded envelope; undefined when the message could not be decoded (see `malformed`). */
  readonly envelope: Envelope | undefined
  /** Set when the message is not a valid envelope: the raw body and why. Core dead-letters it at once. */
  readonly malformed?: { readonly raw: string; readonly error: string } | undefined
  /** 1 on first delivery, incremented by each redelivery (retry or lease expiry). */
  readonly attempt: number
  /** Done: remove the message for this group. */
  ack(): Promise<void>
  /** Hand the message to the group again after at least `delayMs`, with `attempt + 1`. */
  retry(delayMs: number): Promise<void>
  /** Move the message to the group's dead-letter destination with the reason, then remove it. Must not lose it. */
  deadLetter(reason: DeadLetterReason): Promise<void>
  /** Optional: extend the lease by `leaseMs` for a handler that runs long (visibility heartbeat). */
  touch?: (() => Promise<void>) | undefined
}

/** A running subscription of one transport. */
export interface Subscription {
  /** Stop intake: no `onBatch` call starts after this resolves. Handed-out deliveries stay settleable. */
  close(): Promise<void>
}

/** A dead-lettered message as stored by a tier. */
export interface DeadLetter {
  /** Id of the dead-letter entry (tier-specific), used by `redrive`. */
  readonly id: string
  readonly group: string
  /** The envelope, when the message could be decoded. */
  readonly envelope?: Envelope
  /** The raw body, when it could not: its text, or the base64 of its bytes when they are not UTF-8 (`rawEncoding`). */
  readonly raw?: string
  /** `base64` when `raw` holds the base64 of bytes that are not valid UTF-8 (`deadLetterBody` gives the bytes back). */
  readonly rawEncoding?: 'base64'
  readonly reason: DeadLetterReason
  /** RFC 3339 time it was dead-lettered. */
  readonly failedAt: string
}

/** Read and act on a tier's dead letters (optional transport ability; every built-in tier has it). */
export interface DeadLetterStore {
  /** Dead letters, oldest first, optionally of one group. */
  list(options?: { group?: string; limit?: number }): Promise<DeadLetter[]>
  /** Hands each dead letter again to the group it failed in (attempts reset) and removes it; returns how many. */
  redrive(ids: readonly string[]): Promise<number>
  /** Deletes dead letters for good; returns how many. */
  purge(ids: readonly string[]): Promise<number>
}

/**
 * The Transport SPI: what a tier implements. Policy (validation, retry/backoff, dead-letter decisions,
 * concurrency, ordering lanes, request-reply, metrics) lives in core; a transport moves envelopes.
 *
 * Guarantees a transport MUST give (the conformance suite checks them):
 * - at-least-once: a published event reaches every group whose pattern matches, at least once, unless
 *   it is acked, or dead-lettered by that group;
 * - competing consumers: within a group, each event is handed to one member at a time;
 * - `publish` resolves only after the tier has accepted every envelope (to its durability), and
 *   rejects with a TransportError otherwise (a rejected batch may be partly published);
 * - `onBatch` is never called concurrently for one subscription; the transport awaits it before
 *   fetching more, so a slow consumer pushes back instead of buffering without bound;
 * - a delivery not settled within `leaseMs` is handed out again with `attempt + 1`;
 * - messages that are not valid envelopes are delivered with `malformed` set, not dropped or thrown.
 */
export interface Transport {
  /** Short tier name, e.g. `memory`, `postgres`, `redis`. */
  readonly name: string
  /** What the tier can do, for every event type (a router declares what all its routes can do). */
  readonly capabilities: Capabilities
  /** Publish envelopes (already validated and sized by core) to every matching group. */
  publish(batch: readonly Envelope[]): Promise<void>
  /** Start delivering to `onBatch`; resolves once the subscription is established (events published after it resolves are seen). */
  subscribe(spec: SubscriptionSpec, onBatch: (batch: Delivery[]) => Promise<void>): Promise<Subscription>
  /** Release connections; unsettled deliveries are left for redelivery. Idempotent. */
  close(): Promise<void>
  /**
   * Optional, for composite transports (a router) whose capabilities differ by event type: what holds for
   * the types `pattern` (a type or a subscription pattern) can reach. Core checks subscribe and publish
   * options against it when present, else against `capabilities`, which must then hold for every type.
   */
  capabilitiesFor?(pattern: string): Capabilities
  /** Dead-letter access, where the tier offers it. */
  readonly deadLetters?: DeadLetterStore | undefined
  /**
   * Optional, for tiers whose retention can remove events no group has settled yet (by a limit the
   * user chose): how many it removed so, counted once per group, since the transport was created.
   * `bus.metrics().totals.trimmedUnread` reports it and the advisor warns about it.
   */
  trimmedUnread?(): number
  /**
   * Optional, for tiers whose `capabilities.ordering` is `none`: what to do instead when a subscription
   * asks for `ordered` (e.g. "create it with sqsTransport({ fifo: true })"), quoted in core's ConfigError.
   */
  readonly orderingHint?: string | undefined
}
