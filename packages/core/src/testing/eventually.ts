/** Options of `eventually`. */
export interface EventuallyOptions {
  /** Give up after this long (default 10,000 ms). */
  timeoutMs?: number
  /** Poll interval (default 10 ms). */
  intervalMs?: number
}

/**
 * Polls `condition` until it returns true (or a truthy value), failing with `message` after the
 * deadline. Tests wait on conditions this way instead of sleeping for a guessed time.
 */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  message: string | (() => string),
  options: EventuallyOptions = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000)
  const interval = options.intervalMs ?? 10
  for (;;) {
    if (await condition()) return
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${options.timeoutMs ?? 10_000} ms waiting for: ${typeof message === 'function' ? message() : message}`,
      )
    await new Promise((resolve) => setTimeout(resolve, interval))
  }
}

/**
 * Resolves after `ms` — only for asserting that something does NOT happen within a quiet period
 * (there is no condition to poll for an absence).
 */
export function quietPeriod(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** A short random token for isolating names (event types, groups, prefixes) between tests. */
export function uniqueToken(prefix = 't'): string {
  return `${prefix}${Math.random().toString(36).slice(2, 10)}`
}

/** A promise with its resolve function exposed, for gating handlers in tests. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void
  const promise = new Promise<void>((resolve) => (open = resolve))
  return { promise, open }
}
