import { v7 } from 'uuid'

// Web Crypto (Node >= 19, browsers and edge runtimes alike). uuid's own v7() refills a 256-byte pool every
// 16 ids (each fill has a high fixed cost); here the pool holds 512 ids, and the monotonic (msecs, seq)
// state follows RFC 9562 method 1 as uuid does.
const pool = new Uint8Array(16 * 512)
let next = pool.length
let msecs = Number.NEGATIVE_INFINITY
let seq = 0

/** A new event id: a UUIDv7, so ids sort by creation time (monotonic within a process) and double as idempotency keys. */
export function newEventId(): string {
  if (next === pool.length) {
    globalThis.crypto.getRandomValues(pool)
    next = 0
  }
  const random = pool.subarray(next, (next += 16))
  const now = Date.now()
  if (now > msecs) {
    seq = (random[6]! << 23) | (random[7]! << 16) | (random[8]! << 8) | random[9]!
    msecs = now
  } else {
    seq = (seq + 1) | 0
    if (seq === 0) msecs++
  }
  return v7({ msecs, seq, random })
}

/** The creation time (ms since epoch) encoded in a UUIDv7, or undefined for other ids. */
export function timeOfId(id: string): number | undefined {
  if (id.length !== 36 || id[14] !== '7') return undefined
  const ms = Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)
  return Number.isFinite(ms) ? ms : undefined
}
