let lastMs = -1
let lastIso = ''
let lastParsedText = ''
let lastParsedMs = Number.NaN

/**
 * The current time as RFC 3339 (`toISOString`), memoized per millisecond: formatting a date costs
 * more than the rest of building an envelope, and at high rates many events share a millisecond.
 */
export function nowIso(): string {
  return isoAt(Date.now())
}

/** `ms` (since the epoch) as RFC 3339, memoized like `nowIso` for a caller that has read the clock already. */
export function isoAt(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms
    lastIso = new Date(ms).toISOString()
  }
  return lastIso
}

/** `Date.parse`, memoized for the last text (consecutive events usually share their time). */
export function parseTime(text: string): number {
  if (text !== lastParsedText) {
    lastParsedText = text
    lastParsedMs = Date.parse(text)
  }
  return lastParsedMs
}

let wallOffset = 0
let wallSyncedAt = Number.NEGATIVE_INFINITY

/**
 * `Date.now()` at the moment of a `performance.now()` reading the caller already made: one clock read
 * instead of two on the consumer's hot path. The offset between the clocks is re-read at most every 100 ms
 * of monotonic time, so a step of the wall clock shows within 0.1 s. Whole milliseconds, and never ahead of
 * what `Date.now()` would have said (it lags by less than 1 ms).
 */
export function wallAt(mono: number): number {
  if (mono - wallSyncedAt >= 100 || mono < wallSyncedAt) {
    wallOffset = Date.now() - mono
    wallSyncedAt = mono
  }
  return Math.floor(mono + wallOffset)
}
