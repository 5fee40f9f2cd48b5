import { type Envelope, tryDecodeEnvelope } from '@tierbus/core'
import { PAYLOAD_FIELD } from './commands.js'

/** One stream entry handed to a consumer: where it lives, its fields, and how often it was delivered. */
export interface StreamEntry {
  readonly stream: string
  readonly id: string
  /** Flat `[field, value, ...]` list as Redis returns it. */
  readonly fields: readonly string[]
  /** Delivery count (1 on first read; XCLAIM/XAUTOCLAIM add one per redelivery): the `attempt`. */
  readonly deliveries: number
}

/** What a stream entry decodes to: an envelope, or why it is not one. */
export type DecodedEntry =
  | { readonly envelope: Envelope; readonly malformed?: undefined }
  | { readonly envelope?: undefined; readonly malformed: { readonly raw: string; readonly error: string } }

function asFields(value: unknown): string[] {
  if (!Array.isArray(value)) return []
  // A reply decoded as strings (every read) is kept as it is, not copied per entry: nothing else holds it.
  for (const v of value) if (typeof v !== 'string') return value.map((x) => (typeof x === 'string' ? x : String(x)))
  return value as string[]
}

/** The encoded envelope of an entry, if it has the payload field. */
export function payloadOf(fields: readonly string[]): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === PAYLOAD_FIELD) return fields[i + 1]
  return undefined
}

/** The raw text to keep for an entry in a dead letter: its payload, or all its fields when it has none. */
export function rawOf(fields: readonly string[]): string {
  return payloadOf(fields) ?? JSON.stringify(fields)
}

/** Decodes an entry's payload; an entry that is not a tierbus envelope comes back as `malformed`, never thrown. */
export function decodeEntry(entry: StreamEntry): DecodedEntry {
  const raw = payloadOf(entry.fields)
  if (raw === undefined) {
    return {
      malformed: {
        raw: JSON.stringify(entry.fields),
        error: `stream entry ${entry.id} of ${entry.stream} has no '${PAYLOAD_FIELD}' field: it was not written by tierbus`,
      },
    }
  }
  return tryDecodeEnvelope(raw)
}

/** Parses an `XREADGROUP` reply (`[[stream, [[id, fields], ...]], ...]` or null) into entries with delivery count 1. */
export function parseReadReply(reply: unknown): StreamEntry[] {
  if (!Array.isArray(reply)) return []
  const out: StreamEntry[] = []
  for (const streamReply of reply) {
    if (!Array.isArray(streamReply)) continue
    const [stream, items] = streamReply as [unknown, unknown]
    if (typeof stream !== 'string' || !Array.isArray(items)) continue
    for (const item of items) {
      if (!Array.isArray(item) || typeof item[0] !== 'string') continue
      out.push({ stream, id: item[0], fields: asFields(item[1]), deliveries: 1 })
    }
  }
  return out
}

/** Parses the reply of `RECLAIM_SCRIPT` or `ORDERED_RECLAIM_SCRIPT` (which adds the streams still busy). */
export function parseReclaimReply(reply: unknown): { entries: StreamEntry[]; trimmed: number; busy: string[] } {
  if (!Array.isArray(reply)) return { entries: [], trimmed: 0, busy: [] }
  const [list, trimmed, busy] = reply as [unknown, unknown, unknown]
  const entries: StreamEntry[] = []
  if (Array.isArray(list)) {
    for (const item of list) {
      if (!Array.isArray(item)) continue
      const [stream, id, fields, deliveries] = item as [unknown, unknown, unknown, unknown]
      if (typeof stream !== 'string' || typeof id !== 'string') continue
      entries.push({ stream, id, fields: asFields(fields), deliveries: Number(deliveries) || 1 })
    }
  }
  return { entries, trimmed: Number(trimmed) || 0, busy: asFields(busy) }
}
