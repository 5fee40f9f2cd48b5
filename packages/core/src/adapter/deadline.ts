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
 *
 * `what` names the work in the error; pass a function to build the text only when the deadline passes.
 * One promise, two reactions on `work` and one timer per call (no `Promise.race` or `finally`): this
 * wraps every publish of every tier, one at a time when an app awaits each.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(expire, ms, reject, ms, what)
    // A late failure of abandoned work is absorbed here (rejecting a settled promise does nothing),
    // so it never surfaces as an unhandled rejection.
    work.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (err: unknown) => {
        clearTimeout(timer)
        reject(err)
      },
    )
  })
}

function expire(reject: (err: unknown) => void, ms: number, what: string | (() => string)): void {
  reject(
    new TransportError(
      `${typeof what === 'function' ? what() : what} did not finish within ${ms} ms: the broker is unreachable or overloaded; retry later (it may still complete, retrying with the same event id is safe)`,
      { retryable: true },
    ),
  )
}
