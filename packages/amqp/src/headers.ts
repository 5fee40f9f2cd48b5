import type { MessagePropertyHeaders } from 'amqplib'

/** Headers tierbus sets on messages (exported so operators can read them in the management UI). */
export const TIERBUS_HEADERS = Object.freeze({
  /** Attempt the message is on when it comes back from a retry (absent on first delivery). */
  attempt: 'tierbus-attempt',
  /** The ordering key (envelope `subject`, else its id): what the consistent-hash exchange hashes. */
  key: 'tierbus-key',
  /** Which TTL queue the wait exchange routes a message to: `retry-<ms>` or `delay-<ms>`. */
  wait: 'tierbus-wait',
})

/** Headers of a dead letter: why, from which group and queue, when. */
export const DEAD_LETTER_HEADERS = Object.freeze({
  id: 'tierbus-dead-letter-id',
  group: 'tierbus-group',
  reason: 'tierbus-reason',
  failedAt: 'tierbus-failed-at',
  /** The queue it failed in (where `redrive` sends it back). */
  queue: 'tierbus-queue',
  /** The routing key (event type) it was published with. */
  routingKey: 'tierbus-routing-key',
})

/**
 * The headers to keep when a message is sent on again (retry, dead letter, redrive): the broker's own
 * bookkeeping (`x-death`, `x-delivery-count`, `x-first-death-*`) and tierbus's routing headers are
 * dropped, so they neither grow with every cycle nor route the copy where the original went.
 */
export function carriedHeaders(headers: MessagePropertyHeaders | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (!headers) return out
  const drop = new Set<string>([TIERBUS_HEADERS.attempt, TIERBUS_HEADERS.wait, ...Object.values(DEAD_LETTER_HEADERS)])
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-') || drop.has(name)) continue
    out[name] = value
  }
  return out
}

/**
 * The attempt a received message is on: tierbus's own count from retries (`tierbus-attempt`), plus the
 * times the broker handed it out before without a settle (quorum queues count them in
 * `x-delivery-count`; other queues only flag `redelivered`).
 */
export function attemptOf(headers: MessagePropertyHeaders | undefined, redelivered: boolean): number {
  const base = positiveIntOr(headers?.[TIERBUS_HEADERS.attempt], 1)
  const count = headers?.['x-delivery-count']
  const returns = typeof count === 'number' && Number.isInteger(count) && count > 0 ? count : redelivered ? 1 : 0
  return base + returns
}

function positiveIntOr(value: unknown, fallback: number): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN
  return Number.isInteger(n) && n >= 1 && n < 1_000_000 ? n : fallback
}
