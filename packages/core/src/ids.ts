// UUIDv7 (RFC 9562), formatted here instead of by the uuid package: ids are made for every event, and
// uuid's byte array plus generic stringify cost more than the rest of building an envelope. Random bytes
// come from Web Crypto (Node >= 19, browsers and edge runtimes alike) in a pool; the monotonic
// (msecs, seq) state follows RFC 9562 method 1 with the same bit layout as uuid's v7(). An id takes 6
// random bytes (its last 42 bits) from the pool, plus 4 to seed `seq` when the millisecond changes.
// 32 KB: getRandomValues costs ~6 us per call plus ~0.2 ns per byte on Node 20 (measured), so a bigger
// pool makes the per-call part negligible (~1.4 ns per id instead of ~4.5 with 8 KB).
const pool = new Uint8Array(32_768)
let next = pool.length
let msecs = Number.NEGATIVE_INFINITY
let seq = 0
/**
 * `xxxxxxxx-xxxx-7xxx-yxxx-`: the 48-bit timestamp and the top 26 bits of `seq` (bytes 0-9), the first 24
 * characters of every id until the millisecond changes or `seq` crosses a multiple of 64.
 */
let head = ''
let headMs = Number.NaN
let headSeq = -1

const HEX: readonly string[] = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'))
/** Two hex digits of a byte (0..255; HEX covers every byte, so the fallback is never taken). */
const hex = (b: number): string => HEX[b] ?? ''
/** Byte `i` of the random pool (always in range: see `take`). */
const byte = (i: number): number => pool[i] ?? 0

/** The offset of `n` (at most 10) fresh random bytes in the pool, refilling it when they do not fit. */
function take(n: number): number {
  if (next + n > pool.length) {
    globalThis.crypto.getRandomValues(pool)
    next = 0
  }
  const r = next
  next += n
  return r
}

function headOf(ms: number, s: number): string {
  const t = ms.toString(16).padStart(12, '0')
  // Bytes 6-9: version 7, then the top 26 bits of seq around the variant bits (as uuid's v7Bytes).
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-${hex(0x70 | ((s >>> 28) & 0x0f))}${hex((s >>> 20) & 0xff)}-${hex(0x80 | ((s >>> 14) & 0x3f))}${hex((s >>> 6) & 0xff)}-`
}

/**
 * A new event id: a UUIDv7, so ids sort by creation time (monotonic within a process) and double as
 * idempotency keys. `now` lets a caller that has read the clock for the event's time share that read.
 */
export function newEventId(now: number = Date.now()): string {
  if (now > msecs) {
    const r = take(4)
    seq = (byte(r) << 23) | (byte(r + 1) << 16) | (byte(r + 2) << 8) | byte(r + 3)
    msecs = now
  } else {
    seq = (seq + 1) | 0
    if (seq === 0) msecs++
  }
  if (msecs !== headMs || seq >>> 6 !== headSeq) {
    head = headOf(msecs, seq)
    headMs = msecs
    headSeq = seq >>> 6
  }
  const r = take(6)
  // Byte 10: the low 6 bits of seq and 2 random bits; 11-15 random. The 12 characters are concatenated
  // apart (a string shorter than 13 characters is a flat copy), so the id is one cons string over the shared
  // head and a flat tail, not a chain of pieces. It is left unflattened: flattening (uuid's stringify ends
  // with toLowerCase() for it) cost ~0.08 us per id, more than the rest of an id here, and saves only
  // ~13 bytes per retained id (~69 vs ~56 on 64-bit Node 20); whoever needs it flat (a Map key,
  // JSON.stringify) flattens it once, in place.
  const tail =
    hex(((seq << 2) & 0xff) | (byte(r) & 0x03)) +
    hex(byte(r + 1)) +
    hex(byte(r + 2)) +
    hex(byte(r + 3)) +
    hex(byte(r + 4)) +
    hex(byte(r + 5))
  return head + tail
}

/** The creation time (ms since epoch) encoded in a UUIDv7, or undefined for other ids. */
export function timeOfId(id: string): number | undefined {
  if (id.length !== 36 || id[14] !== '7') return undefined
  const ms = Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)
  return Number.isFinite(ms) ? ms : undefined
}
