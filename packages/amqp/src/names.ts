import { createHash } from 'node:crypto'
import { assertPattern, ConfigError } from '@tierbus/core'

/** What a prefix may be: dot-separated tokens of letters, digits, `_` or `-` (it starts every name). */
const PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/

/** Throws a ConfigError unless `prefix` is a valid name prefix of at most 100 characters. */
export function assertPrefix(prefix: string): void {
  if (typeof prefix !== 'string' || prefix.length > 100 || !PREFIX.test(prefix)) {
    throw new ConfigError(
      'amqpTransport option prefix must be dot-separated tokens of letters, digits, _ or - ' +
        `(at most 100 characters), got ${JSON.stringify(prefix)}`,
    )
  }
}

/**
 * A NATS-style pattern as an AMQP topic binding key. `*` is one word in both. NATS `>` is one or more
 * words where AMQP `#` is zero or more, so `>` becomes `*.#` (`work.nlp.>` must not match `work.nlp`).
 */
export function bindingKey(pattern: string): string {
  assertPattern(pattern)
  return pattern
    .split('.')
    .map((token) => (token === '>' ? '*.#' : token))
    .join('.')
}

/** A short, stable digest naming a (group, pattern) pair or a group inside queue names. */
function digest(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 12)
}

/** A group name made safe for queue names (readable part) plus a digest that keeps distinct groups apart. */
function groupToken(group: string): string {
  return `${group.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40)}_${digest(group)}`
}

/**
 * The names one transport uses on the broker, all under `prefix` (at most 255 bytes each):
 * `<prefix>.events` (topic exchange), `<prefix>.wait` (headers exchange of the TTL queues),
 * `<prefix>.q.<group>.<digest>` (a group's queue for one pattern), `<prefix>.dlq.<group>` ...
 */
export class Names {
  constructor(readonly prefix: string) {
    assertPrefix(prefix)
  }

  /** The topic exchange every event is published to (routing key = event type). */
  get exchange(): string {
    return `${this.prefix}.events`
  }

  /** The headers exchange that routes into the per-delay TTL queues. */
  get waitExchange(): string {
    return `${this.prefix}.wait`
  }

  /** A group's quorum queue for one pattern (a group subscribing to two patterns has two queues). */
  groupQueue(group: string, pattern: string): string {
    return `${this.prefix}.q.${groupToken(group)}.${digest(group, pattern)}`
  }

  /** The consistent-hash exchange of an ordered group's pattern, feeding its partitions. */
  hashExchange(group: string, pattern: string): string {
    return `${this.groupQueue(group, pattern)}.hash`
  }

  /** Partition `i` of an ordered group's pattern (a single-active-consumer quorum queue). */
  partition(group: string, pattern: string, i: number): string {
    return `${this.groupQueue(group, pattern)}.p${i}`
  }

  /** A group's dead-letter queue (one per group, whatever its patterns). */
  deadLetterQueue(group: string): string {
    return `${this.prefix}.dlq.${groupToken(group)}`
  }

  /** The TTL queue holding messages `ms` before they go on: to a group queue (`retry`) or to the exchange (`delay`). */
  waitQueue(kind: WaitKind, ms: number): string {
    return `${this.prefix}.wait.${kind}.${ms}`
  }

  /** A request-reply inbox's exclusive queue (the inbox type is `_inbox.<16 hex>`). */
  inboxQueue(inboxType: string): string {
    return `${this.prefix}.${inboxType}`
  }
}

/** Where a TTL queue sends a message when it expires: back to one group queue, or to the topic exchange. */
export type WaitKind = 'retry' | 'delay'

/**
 * Delays a TTL queue exists for, ms (1-2-5 steps). A wait is rounded up to the next one, so it lasts
 * at least what was asked and at most 2.5 times it; every message in one queue has the same TTL, so
 * the queue expires them in order (per-message TTLs in one queue would wait behind the head).
 */
export const WAIT_BUCKETS_MS: readonly number[] = Object.freeze(
  [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000]
    .flatMap((base) => [base * 10, base * 20, base * 50])
    .filter((ms) => ms <= 86_400_000),
)

/** The longest wait a TTL queue offers, ms. */
export const MAX_WAIT_MS = WAIT_BUCKETS_MS[WAIT_BUCKETS_MS.length - 1] ?? 0

/** The bucket a wait of `ms` goes to (the smallest bucket >= ms, capped at the largest). */
export function waitBucket(ms: number): number {
  for (const b of WAIT_BUCKETS_MS) if (b >= ms) return b
  return MAX_WAIT_MS
}
