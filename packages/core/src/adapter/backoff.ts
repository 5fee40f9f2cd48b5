/** Delays between reconnect attempts: exponential growth with jitter, capped. */
export interface ReconnectBackoff {
  /** Delay before the second attempt, ms (the first runs at once). */
  initialDelayMs?: number
  /** Longest delay between attempts, ms. */
  maxDelayMs?: number
  /** Growth per attempt. */
  factor?: number
  /** Share of each delay that is random (0 = none, 1 = full jitter), so many clients do not reconnect in step. */
  jitter?: number
}

/** Defaults of `ReconnectBackoff`: 250 ms doubling up to 10 s, ±50 % jitter. */
export const RECONNECT_BACKOFF_DEFAULTS = Object.freeze({
  initialDelayMs: 250,
  maxDelayMs: 10_000,
  factor: 2,
  jitter: 0.5,
})

/** The delay before reconnect attempt `attempt` (1 = the first retry), ms. */
export function reconnectDelay(
  attempt: number,
  backoff: ReconnectBackoff = {},
  random: () => number = Math.random,
): number {
  const d = RECONNECT_BACKOFF_DEFAULTS
  const initial = backoff.initialDelayMs ?? d.initialDelayMs
  const max = backoff.maxDelayMs ?? d.maxDelayMs
  const jitter = Math.min(1, Math.max(0, backoff.jitter ?? d.jitter))
  const base = Math.min(max, initial * (backoff.factor ?? d.factor) ** Math.max(0, attempt - 1))
  return Math.round(base * (1 - jitter + jitter * random()))
}

/** Options of `reconnectWithBackoff`. */
export interface ReconnectOptions {
  /** Delays between attempts. */
  backoff?: ReconnectBackoff
  /** Aborting (the transport closes) wakes the wait at once and ends the attempts. */
  signal?: AbortSignal
  /** Called after each failed attempt with its error and the delay before the next one. */
  onAttemptFailed?: (error: unknown, attempt: number, nextDelayMs: number) => void
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleepUnlessAborted(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}

/**
 * Calls `connect` until it succeeds, without an attempt limit: a broker may be down for minutes and a
 * bus must come back by itself. Waits `reconnectDelay` between attempts. Resolves to the connection,
 * or to `undefined` once `signal` aborts (the transport closed while reconnecting).
 */
export async function reconnectWithBackoff<T>(
  connect: (attempt: number) => Promise<T>,
  options: ReconnectOptions = {},
): Promise<T | undefined> {
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) return undefined
    try {
      return await connect(attempt)
    } catch (err) {
      if (options.signal?.aborted) return undefined
      const delay = reconnectDelay(attempt, options.backoff)
      options.onAttemptFailed?.(err, attempt, delay)
      await sleepUnlessAborted(delay, options.signal)
    }
  }
}
