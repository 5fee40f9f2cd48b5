import { v7 } from 'uuid'

/** A new event id: a UUIDv7, so ids sort by creation time and double as idempotency keys. */
export function newEventId(): string {
  return v7()
}

/** The creation time (ms since epoch) encoded in a UUIDv7, or undefined for other ids. */
export function timeOfId(id: string): number | undefined {
  if (id.length !== 36 || id[14] !== '7') return undefined
  const ms = Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)
  return Number.isFinite(ms) ? ms : undefined
}
