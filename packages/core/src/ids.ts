// UUIDv7 (RFC 9562), formatted here instead of by the uuid package: ids are made for every event, and
// uuid's byte array plus generic stringify cost more than the rest of building an envelope. Random bytes
// come from Web Crypto (Node >= 19, browsers and edge runtimes alike) in a pool of 512 ids; the
// monotonic (msecs, seq) state follows RFC 9562 method 1 with the same bit layout as uuid's v7().
const POOL_IDS = 512
const pool = new Uint8Array(16 * POOL_IDS)
let next = pool.length
let msecs = Number.NEGATIVE_INFINITY
let seq = 0
/** `xxxxxxxx-xxxx-` of the current `msecs` (48-bit timestamp), rebuilt when the millisecond changes. */
let prefix = ''
let prefixMs = Number.NaN

const HEX: readonly string[] = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'))

function timePrefix(ms: number): string {
  const hex = ms.toString(16).padStart(12, '0')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-`
}

/**
 * A new event id: a UUIDv7, so ids sort by creation time (monotonic within a process) and double as
 * idempotency keys. `now` lets a caller that has read the clock for the event's time share that read.
 */
export function newEventId(now: number = Date.now()): string {
  if (next === pool.length) {
    globalThis.crypto.getRandomValues(pool)
    next = 0
  }
  const r = next
  next += 16
  if (now > msecs) {
    seq = (pool[r + 6]! << 23) | (pool[r + 7]! << 16) | (pool[r + 8]! << 8) | pool[r + 9]!
    msecs = now
  } else {
    seq = (seq + 1) | 0
    if (seq === 0) msecs++
  }
  if (msecs !== prefixMs) {
    prefix = timePrefix(msecs)
    prefixMs = msecs
  }
  // Bytes 6-10: version 7, then 32 bits of seq around the variant bits (as uuid's v7Bytes); 11-15 random.
  // An id lives as long as its event (a queued backlog holds many): toLowerCase() (a no-op on these
  // characters) flattens the concatenation into one 36-character string, as uuid's stringify does.
  const seqPart =
    HEX[0x70 | ((seq >>> 28) & 0x0f)]! +
    HEX[(seq >>> 20) & 0xff]! +
    '-' +
    HEX[0x80 | ((seq >>> 14) & 0x3f)]! +
    HEX[(seq >>> 6) & 0xff]! +
    '-'
  const randomPart =
    HEX[((seq << 2) & 0xff) | (pool[r + 10]! & 0x03)]! +
    HEX[pool[r + 11]!]! +
    HEX[pool[r + 12]!]! +
    HEX[pool[r + 13]!]! +
    HEX[pool[r + 14]!]! +
    HEX[pool[r + 15]!]!
  return (prefix + seqPart + randomPart).toLowerCase()
}

/** The creation time (ms since epoch) encoded in a UUIDv7, or undefined for other ids. */
export function timeOfId(id: string): number | undefined {
  if (id.length !== 36 || id[14] !== '7') return undefined
  const ms = Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)
  return Number.isFinite(ms) ? ms : undefined
}
