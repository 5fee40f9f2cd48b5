import { ConfigError, TransportError } from '../errors.js'

/** Default `publishTimeoutMs` of every tier: a publish answers (resolves or rejects) within 5 s. */
export const DEFAULT_PUBLISH_TIMEOUT_MS = 5_000

/** The option every tier accepts to bound `publish`. */
export interface PublishDeadlineOptions {
  /** Longest a `publish` may take before it rejects with a retryable TransportError, ms (default 5,000). */
  publishTimeoutMs?: number
}

/** Checks a tier's `publishTimeoutMs` option (default `DEFAULT_PUBLISH_TIMEOUT_MS`), throwing a ConfigError naming the tier. */
export function resolvePublishTimeout(value: number | undefined, tier: string): number {
  const ms = value ?? DEFAULT_PUBLISH_TIMEOUT_MS
  if (!Number.isInteger(ms) || ms <= 0)
    throw new ConfigError(`${tier} option publishTimeoutMs must be a positive integer (ms), got ${String(value)}`)
  return ms
}

/**
 * Settles like `work`, or rejects with a retryable TransportError once `ms` passed: a client that
 * queues commands while its broker is away (ioredis, nats.js) would otherwise hang for the whole
 * outage. The work itself is not cancelled and may still complete later, so a caller that retries
 * may publish twice: delivery is at-least-once and the event id is the dedup key.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new TransportError(
            `${what} did not finish within ${ms} ms: the broker is unreachable or overloaded; retry later (it may still complete, retrying with the same event id is safe)`,
            { retryable: true },
          ),
        ),
      ms,
    )
  })
  // A late failure of the abandoned work must not surface as an unhandled rejection.
  work.catch(() => {})
  return Promise.race([work, expired]).finally(() => clearTimeout(timer))
}
