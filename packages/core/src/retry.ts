import { ConfigError } from './errors.js'

/** Retry policy of a subscription: how many attempts, and the backoff between them. */
export interface RetryPolicy {
  /** Total attempts including the first; the last failure dead-letters. */
  attempts: number
  /** Exponential backoff: `baseMs * 2^(attempt-1)`, capped at `maxMs`, with equal jitter. */
  backoff: { baseMs: number; maxMs: number }
}

/** Defaults: 5 attempts, 200 ms doubling up to 60 s. */
export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  attempts: 5,
  backoff: Object.freeze({ baseMs: 200, maxMs: 60_000 }),
})

/** Retry settings as accepted by options: any field may be left out. */
export type RetryOptions = { attempts?: number; backoff?: Partial<RetryPolicy['backoff']> }

/** Fills defaults and rejects nonsense with a ConfigError. */
export function resolveRetry(input: RetryOptions = {}): RetryPolicy {
  const policy = {
    attempts: input.attempts ?? DEFAULT_RETRY.attempts,
    backoff: { ...DEFAULT_RETRY.backoff, ...input.backoff },
  }
  if (!Number.isInteger(policy.attempts) || policy.attempts < 1 || policy.attempts > 1000) {
    throw new ConfigError(`retry.attempts must be an integer from 1 to 1000, got ${String(policy.attempts)}`)
  }
  const { baseMs, maxMs } = policy.backoff
  if (!(baseMs >= 0) || !(maxMs >= baseMs) || !Number.isFinite(maxMs)) {
    throw new ConfigError(
      `retry.backoff needs 0 <= baseMs <= maxMs (finite), got baseMs=${String(baseMs)} maxMs=${String(maxMs)}`,
    )
  }
  return policy
}

/**
 * Delay before the next attempt after `attempt` failed: exponential with "equal jitter"
 * (half fixed, half random), so retries of many consumers spread out but never collapse to 0.
 */
export function backoffDelay(
  attempt: number,
  backoff: RetryPolicy['backoff'],
  random: () => number = Math.random,
): number {
  const exp = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, attempt - 1))
  return Math.round(exp / 2 + random() * (exp / 2))
}
