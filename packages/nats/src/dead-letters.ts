import {
  type DeadLetter,
  type DeadLetterReason,
  type DeadLetterStore,
  decodeEnvelope,
  isInboxType,
  publishableTypeIssue,
  rawBodyOf,
  tryDecodeEnvelope,
} from '@tierbus/core'
import {
  type JetStreamClient,
  type JetStreamManager,
  type MsgHdrs,
  headers as natsHeaders,
  type StreamInfo,
} from 'nats'
import { isMessageGone, transportError } from './errors.js'
import type { SubjectMap } from './subjects.js'

/**
 * JetStream has no dead-letter queue, so tierbus keeps one: a stream on `<prefix>_dlq.<durable>`
 * whose entries carry the original bytes plus these headers (the reason, the group, where it came from).
 */
export const DEAD_LETTER_HEADERS = Object.freeze({
  group: 'Tierbus-Group',
  reason: 'Tierbus-Reason',
  failedAt: 'Tierbus-Failed-At',
  subject: 'Tierbus-Subject',
  durable: 'Tierbus-Durable',
})

/** Header naming the one durable a redriven message is for; other groups' consumers ack and skip it. */
export const REDRIVE_HEADER = 'Tierbus-Redrive-To'

/** Longest error text kept in a dead letter's reason (the header must fit next to a near-limit payload). */
export const MAX_REASON_ERROR_CHARS = 2_000

/** What `durableName` produces: a redrive header may carry nothing else (no spaces, no control characters). */
const DURABLE = /^[A-Za-z0-9_-]{1,64}$/

/** Where a dead-lettered message came from. */
export interface DeadLetterOrigin {
  readonly group: string
  readonly durable: string
  /** The NATS subject the message was published on. */
  readonly subject: string
  /** The original message bytes. */
  readonly data: Uint8Array
}

/** Writes and reads the dead-letter stream of one transport. */
export class JetStreamDeadLetters implements DeadLetterStore {
  constructor(
    private js: JetStreamClient,
    private jsm: JetStreamManager,
    private readonly subjects: SubjectMap,
    private readonly stream: string,
  ) {}

  /** Moves onto a new connection's clients (the transport rebuilt its connection). */
  rebind(js: JetStreamClient, jsm: JetStreamManager): void {
    this.js = js
    this.jsm = jsm
  }

  /** Stores a dead letter; resolves once JetStream has it (so the original may be terminated). */
  async write(origin: DeadLetterOrigin, reason: DeadLetterReason): Promise<void> {
    const h = natsHeaders()
    const error =
      reason.error.length > MAX_REASON_ERROR_CHARS
        ? `${reason.error.slice(0, MAX_REASON_ERROR_CHARS)}...`
        : reason.error
    h.set(DEAD_LETTER_HEADERS.group, origin.group)
    h.set(DEAD_LETTER_HEADERS.reason, JSON.stringify({ ...reason, error }))
    h.set(DEAD_LETTER_HEADERS.failedAt, new Date().toISOString())
    h.set(DEAD_LETTER_HEADERS.subject, origin.subject)
    h.set(DEAD_LETTER_HEADERS.durable, origin.durable)
    try {
      await this.js.publish(this.subjects.deadLetterSubject(origin.durable), origin.data, { headers: h })
    } catch (err) {
      throw transportError(`writing a dead letter of group ${origin.group} to stream ${this.stream}`, err)
    }
  }

  async list(options: { group?: string; limit?: number } = {}): Promise<DeadLetter[]> {
    const limit = options.limit ?? 100
    const out: DeadLetter[] = []
    for await (const { seq, header, data } of this.scan()) {
      const entry = toDeadLetter(seq, header, data)
      if (options.group !== undefined && entry.group !== options.group) continue
      out.push(entry)
      if (out.length >= limit) break
    }
    return out
  }

  async redrive(ids: readonly string[]): Promise<number> {
    let n = 0
    for (const id of ids) {
      const stored = await this.get(id)
      if (!stored) continue
      const subject = stored.header.get(DEAD_LETTER_HEADERS.subject)
      const durable = stored.header.get(DEAD_LETTER_HEADERS.durable)
      // Headers of a stored message are input too (anyone allowed to publish on the DLQ subjects can write
      // them): redrive only onto this transport's own event subjects, in the event-type grammar.
      if (!subject || !durable || !this.isEventSubject(subject) || !DURABLE.test(durable) || !isEnvelope(stored.data))
        continue
      const h = natsHeaders()
      h.set(REDRIVE_HEADER, durable)
      try {
        // A new stream message: the group sees it with attempt 1; no msgID, so dedupe cannot swallow it.
        await this.js.publish(subject, stored.data, { headers: h })
        await this.jsm.streams.deleteMessage(this.stream, stored.seq, false)
      } catch (err) {
        throw transportError(`redriving dead letter ${id}`, err)
      }
      n++
    }
    return n
  }

  async purge(ids: readonly string[]): Promise<number> {
    let n = 0
    for (const id of ids) {
      const seq = parseId(id)
      if (seq === undefined) continue
      try {
        if (await this.jsm.streams.deleteMessage(this.stream, seq, false)) n++
      } catch (err) {
        if (!isMessageGone(err)) throw transportError(`purging dead letter ${id}`, err)
      }
    }
    return n
  }

  /** True for `<prefix>.<event type>` subjects (not inboxes, not dead letters, no injected characters). */
  private isEventSubject(subject: string): boolean {
    const type = this.subjects.typeOf(subject)
    return type !== undefined && !isInboxType(type) && publishableTypeIssue(type) === undefined
  }

  private async get(id: string): Promise<{ seq: number; header: MsgHdrs; data: Uint8Array } | undefined> {
    const seq = parseId(id)
    if (seq === undefined) return undefined
    try {
      const m = await this.jsm.streams.getMessage(this.stream, { seq })
      return { seq: m.seq, header: m.header, data: m.data }
    } catch (err) {
      if (isMessageGone(err)) return undefined
      throw transportError(`reading dead letter ${id}`, err)
    }
  }

  /** Every stored dead letter, oldest first (purged ones leave gaps, skipped). */
  private async *scan(): AsyncGenerator<{ seq: number; header: MsgHdrs; data: Uint8Array }> {
    let info: StreamInfo
    try {
      info = await this.jsm.streams.info(this.stream)
    } catch (err) {
      throw transportError(`reading dead-letter stream ${this.stream}`, err)
    }
    const { first_seq: first, last_seq: last, messages } = info.state
    if (messages === 0) return
    for (let seq = first; seq <= last; seq++) {
      const m = await this.get(String(seq))
      if (m) yield m
    }
  }
}

function parseId(id: string): number | undefined {
  if (typeof id !== 'string' || !/^[1-9][0-9]{0,15}$/.test(id)) return undefined
  return Number(id)
}

function isEnvelope(data: Uint8Array): boolean {
  try {
    decodeEnvelope(data)
    return true
  } catch {
    return false
  }
}

function toDeadLetter(seq: number, header: MsgHdrs, data: Uint8Array): DeadLetter {
  let reason: DeadLetterReason
  try {
    reason = JSON.parse(header.get(DEAD_LETTER_HEADERS.reason)) as DeadLetterReason
  } catch {
    // Not written by tierbus (someone published on the DLQ subjects): show it rather than hide it.
    reason = { kind: 'malformed', error: `no readable ${DEAD_LETTER_HEADERS.reason} header`, attempts: 0 }
  }
  const { envelope, malformed } = tryDecodeEnvelope(data)
  return {
    id: String(seq),
    group: header.get(DEAD_LETTER_HEADERS.group),
    // The stored bytes are the original ones: listed as text, or as base64 when they are not UTF-8.
    ...(envelope ? { envelope } : malformed ? rawBodyOf(data) : {}),
    reason,
    failedAt: header.get(DEAD_LETTER_HEADERS.failedAt),
  }
}
