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
