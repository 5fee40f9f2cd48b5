import { randomUUID } from 'node:crypto'
import {
  type DeadLetter,
  type DeadLetterReason,
  type DeadLetterStore,
  decodeEnvelope,
  tryDecodeEnvelope,
} from '@tierbus/core'
import type { Channel, GetMessage, MessageProperties } from 'amqplib'
import { transportError } from './errors.js'
import { carriedHeaders, DEAD_LETTER_HEADERS } from './headers.js'
import type { AmqpLink } from './link.js'
import type { Topology } from './topology.js'

/** Longest error text kept in a dead letter's reason header. */
export const MAX_REASON_ERROR_CHARS = 2_000

/** Most messages one list / redrive / purge reads from a dead-letter queue. */
export const MAX_SCAN = 10_000

/** Where a dead-lettered message came from, with its exact bytes and properties. */
export interface DeadLetterOrigin {
  readonly group: string
  /** The queue it was consumed from (where a redrive sends it back). */
  readonly queue: string
  readonly routingKey: string
  readonly content: Buffer
  readonly properties: MessageProperties
}

/**
 * The dead-letter queues of one transport: one durable quorum queue per group (`<prefix>.dlq.<group>`),
 * each entry the original bytes with the reason in headers. Reading a queue without consuming it is
 * done the AMQP way: `basic.get` every message on a private channel, then close the channel so the
 * broker puts back what was not acked (list reads, redrive and purge ack the entries they act on).
 * A listing therefore costs a pass over the queue, and entries held by a concurrent listing are
 * not seen by it.
 */
export class AmqpDeadLetters implements DeadLetterStore {
  constructor(
    private readonly link: AmqpLink,
    private readonly topology: Topology,
  ) {}

  /** Stores a dead letter; resolves once the broker confirmed it (so the original may be acked). */
  async write(origin: DeadLetterOrigin, reason: DeadLetterReason): Promise<void> {
    const { publisher } = await this.link.current()
    const error =
      reason.error.length > MAX_REASON_ERROR_CHARS
        ? `${reason.error.slice(0, MAX_REASON_ERROR_CHARS)}...`
        : reason.error
    const id = randomUUID()
    const p = origin.properties
    await publisher.publish({
      exchange: '',
      routingKey: this.topology.names.deadLetterQueue(origin.group),
      content: origin.content,
      mandatory: true,
      what: `a dead letter of group ${origin.group}`,
      properties: {
        messageId: id,
        persistent: true,
        ...(typeof p.contentType === 'string' ? { contentType: p.contentType } : {}),
        headers: {
          ...carriedHeaders(p.headers),
          [DEAD_LETTER_HEADERS.id]: id,
          [DEAD_LETTER_HEADERS.group]: origin.group,
          [DEAD_LETTER_HEADERS.reason]: JSON.stringify({ ...reason, error }),
          [DEAD_LETTER_HEADERS.failedAt]: new Date().toISOString(),
          [DEAD_LETTER_HEADERS.queue]: origin.queue,
          [DEAD_LETTER_HEADERS.routingKey]: origin.routingKey,
        },
      },
    })
  }

  async list(options: { group?: string; limit?: number } = {}): Promise<DeadLetter[]> {
    const limit = options.limit ?? 100
    const out: DeadLetter[] = []
    for (const queue of await this.queuesOf(options.group)) {
      await this.scan(queue, (m) => {
        if (out.length < limit) out.push(toDeadLetter(m, options.group))
        return out.length < limit ? 'keep' : 'stop'
      })
      if (out.length >= limit) break
    }
    return out
  }

  async redrive(ids: readonly string[]): Promise<number> {
    const wanted = new Set(ids)
    let n = 0
    for (const queue of await this.queuesOf(undefined)) {
      await this.scan(queue, async (m) => {
        if (!wanted.has(idOf(m))) return 'keep'
        const target = m.properties.headers?.[DEAD_LETTER_HEADERS.queue]
        // Headers of a stored message are input too: send back only to this transport's own group
        // queues, and only what decodes as an envelope.
        if (typeof target !== 'string' || !this.isGroupQueue(target) || !isEnvelope(m.content)) return 'keep'
        const { publisher } = await this.link.current()
        await publisher.publish({
          exchange: '',
          routingKey: target,
          content: m.content,
          mandatory: true,
          what: `redriven dead letter ${idOf(m)}`,
          properties: {
            messageId: idOf(m),
            persistent: true,
            ...(typeof m.properties.contentType === 'string' ? { contentType: m.properties.contentType } : {}),
            headers: carriedHeaders(m.properties.headers),
          },
        })
        wanted.delete(idOf(m))
        n++
        return 'ack'
      })
      if (wanted.size === 0) break
    }
    return n
  }

  async purge(ids: readonly string[]): Promise<number> {
    const wanted = new Set(ids)
    let n = 0
    for (const queue of await this.queuesOf(undefined)) {
      await this.scan(queue, (m) => {
        if (!wanted.delete(idOf(m))) return 'keep'
        n++
        return 'ack'
      })
      if (wanted.size === 0) break
    }
    return n
  }

  /** The DLQ of `group` (declared, so a group that never failed lists empty), or every DLQ this transport declared. */
  private async queuesOf(group: string | undefined): Promise<string[]> {
    if (group === undefined) return this.topology.deadLetterQueues
    const { connection } = await this.link.current()
    await this.topology.declareDeadLetterQueue(connection, group)
    return [this.topology.names.deadLetterQueue(group)]
  }

  private isGroupQueue(queue: string): boolean {
    const prefix = this.topology.names.prefix.replace(/[.]/g, '\\.')
    return new RegExp(`^${prefix}\\.q\\.[A-Za-z0-9_-]{1,60}\\.[0-9a-f]{12}(\\.p[0-9]{1,4})?$`).test(queue)
  }

  /**
   * Reads `queue` with basic.get on a private channel, up to `MAX_SCAN` messages; `visit` says per message
   * whether to ack it (it was acted on), keep it, or stop. Closing the channel returns what was kept.
   */
  private async scan(
    queue: string,
    visit: (m: GetMessage) => 'keep' | 'ack' | 'stop' | Promise<'keep' | 'ack' | 'stop'>,
  ): Promise<void> {
    const { connection } = await this.link.current()
    let ch: Channel
    try {
      ch = await connection.createChannel()
    } catch (err) {
      throw transportError(`opening a channel to read dead-letter queue ${queue}`, err)
    }
    ch.on('error', () => {})
    try {
      for (let i = 0; i < MAX_SCAN; i++) {
        const m = await ch.get(queue, { noAck: false })
        if (m === false) break
        const action = await visit(m)
        if (action === 'ack') ch.ack(m)
        if (action === 'stop') break
      }
    } catch (err) {
      throw transportError(`reading dead-letter queue ${queue}`, err)
    } finally {
      await ch.close().catch(() => {})
    }
  }
}

/** A dead letter's id: the one tierbus gave it, else (dead-lettered by the broker's delivery limit) its message id. */
function idOf(m: GetMessage): string {
  const id = m.properties.headers?.[DEAD_LETTER_HEADERS.id] ?? m.properties.messageId
  return typeof id === 'string' ? id : ''
}

function isEnvelope(content: Buffer): boolean {
  try {
    decodeEnvelope(content)
    return true
  } catch {
    return false
  }
}

/**
 * The entry as tierbus shows it; `group` names the DLQ's group when the entry has no group header
 * (dead-lettered by the broker).
 */
function toDeadLetter(m: GetMessage, group: string | undefined): DeadLetter {
  const h = m.properties.headers ?? {}
  let reason: DeadLetterReason
  try {
    reason = JSON.parse(String(h[DEAD_LETTER_HEADERS.reason])) as DeadLetterReason
  } catch {
    // Dead-lettered by the broker (x-delivery-limit) or written by someone else: show it rather than hide it.
    const death = Array.isArray(h['x-death'])
      ? (h['x-death'][0] as { reason?: unknown; count?: unknown } | undefined)
      : undefined
    const why = death
      ? `dead-lettered by the broker: ${String(death.reason)} ` +
        `(delivered ${String(h['x-delivery-count'] ?? death.count)} times without a settle)`
      : `no readable ${DEAD_LETTER_HEADERS.reason} header`
    reason = {
      kind: 'handler-failed',
      error: why,
      attempts: typeof h['x-delivery-count'] === 'number' ? h['x-delivery-count'] : 0,
    }
  }
  const { envelope, malformed } = tryDecodeEnvelope(m.content)
  const failedAt = h[DEAD_LETTER_HEADERS.failedAt]
  return {
    id: idOf(m),
    group: typeof h[DEAD_LETTER_HEADERS.group] === 'string' ? h[DEAD_LETTER_HEADERS.group] : (group ?? ''),
    ...(envelope ? { envelope } : { raw: malformed.raw }),
    reason,
    failedAt: typeof failedAt === 'string' ? failedAt : new Date(0).toISOString(),
  }
}
