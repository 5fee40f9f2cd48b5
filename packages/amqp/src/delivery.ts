import { type DeadLetterReason, type Delivery, type Envelope, tryDecodeEnvelope } from '@tierbus/core'
import { type InFlightSlot, SettleOnce } from '@tierbus/core/adapter'
import type { ConsumeMessage } from 'amqplib'
import type { ChannelAcks } from './acks.js'
import type { AmqpDeadLetters } from './dead-letters.js'
import { UnroutableError } from './errors.js'
import { attemptOf, carriedHeaders, TIERBUS_HEADERS } from './headers.js'
import type { AmqpLink } from './link.js'
import { waitBucket } from './names.js'
import { type Topology, waitTag } from './topology.js'

/** What a delivery needs from its subscription. */
export interface DeliveryContext {
  readonly group: string
  readonly link: AmqpLink
  readonly topology: Topology
  readonly deadLetters: AmqpDeadLetters
  readonly leaseMs: number
  readonly isClosed: () => boolean
}

/**
 * One message handed to core. ack → `basic.ack` (on the next tick, with the channel's other acks of
 * this turn: see ChannelAcks); retry → the message goes on to the TTL queue of its
 * delay (dead-lettering back to the queue it came from) with `attempt + 1`, then the original is
 * acked; deadLetter → written to the group's DLQ (confirmed), then acked. Unsettled after `leaseMs`
 * (touch renews it), it is handed back with `basic.nack` + requeue, and a later settle does nothing.
 * A settle after its channel closed does nothing either: the broker has put the message back already.
 */
export class AmqpDelivery implements Delivery {
  readonly envelope: Envelope | undefined
  readonly malformed?: { readonly raw: string; readonly error: string }
  readonly attempt: number
  private readonly once: SettleOnce
  private lease: NodeJS.Timeout | undefined
  /** The broker has been told (ack or nack sent, or the channel is gone). */
  private finished = false

  constructor(
    private readonly msg: ConsumeMessage,
    private readonly acks: ChannelAcks,
    private readonly queue: string,
    slot: InFlightSlot,
    private readonly ctx: DeliveryContext,
  ) {
    this.once = new SettleOnce(slot, ctx.isClosed)
    this.attempt = attemptOf(msg.properties.headers, msg.fields.redelivered)
    const { envelope, malformed } = tryDecodeEnvelope(msg.content)
    this.envelope = envelope
    if (malformed) this.malformed = malformed
  }

  /** Starts the lease (when the delivery is handed to core). */
  startLease(): void {
    this.lease ??= setTimeout(() => this.expire(), this.ctx.leaseMs).unref()
  }

  /** Hands the message back unhandled (close, lease expiry): the group gets it again at once. */
  handBack(): void {
    void this.once.settle(() => {})
    this.finish((acks) => acks.nack(this.msg))
  }

  ack(): Promise<void> {
    return this.once.settle(() => this.finish((acks) => acks.ack(this.msg)))
  }

  retry(delayMs: number): Promise<void> {
    return this.once.settle(async () => {
      await this.sendAgain(Math.max(0, Math.round(delayMs)))
      this.finish((acks) => acks.ack(this.msg))
    })
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    return this.once.settle(async () => {
      // Stored first: if the write fails the message stays unacked and comes back after its lease.
      const { content, properties, fields } = this.msg
      await this.ctx.deadLetters.write(
        { group: this.ctx.group, queue: this.queue, routingKey: fields.routingKey, content, properties },
        reason,
      )
      this.finish((acks) => acks.ack(this.msg))
    })
  }

  touch(): Promise<void> {
    return this.once.touch(() => void this.lease?.refresh())
  }

  /** Publishes a copy with `attempt + 1`: straight back to the queue, or through the TTL queue of the delay. */
  private async sendAgain(delayMs: number): Promise<void> {
    const { connection, publisher } = await this.ctx.link.current()
    const bucket = delayMs > 0 ? waitBucket(delayMs) : 0
    if (bucket > 0) await this.ctx.topology.ensureWait(connection, 'retry', bucket)
    const p = this.msg.properties
    const copy = publisher.publish({
      exchange: bucket > 0 ? this.ctx.topology.names.waitExchange : '',
      routingKey: this.queue,
      content: this.msg.content,
      mandatory: true,
      what: `a retry of a message of group ${this.ctx.group}`,
      properties: {
        messageId: typeof p.messageId === 'string' ? p.messageId : `retry-${this.msg.fields.deliveryTag}-${Date.now()}`,
        persistent: true,
        ...(typeof p.contentType === 'string' ? { contentType: p.contentType } : {}),
        headers: {
          ...carriedHeaders(p.headers),
          [TIERBUS_HEADERS.attempt]: this.attempt + 1,
          ...(bucket > 0 ? { [TIERBUS_HEADERS.wait]: waitTag('retry', bucket) } : {}),
        },
      },
    })
    await copy.catch((err: unknown) => {
      // A retry that came back: its TTL queue was deleted; declare it again on the next retry.
      if (err instanceof UnroutableError && bucket > 0) this.ctx.topology.forgetWait('retry', bucket)
      throw err
    })
  }

  private expire(): void {
    this.lease = undefined
    if (!this.finished) this.handBack()
  }

  /** Sends the ack/nack once; on a closed channel it is moot (the broker requeued the message). */
  private finish(send: (acks: ChannelAcks) => void): void {
    if (this.finished) return
    this.finished = true
    clearTimeout(this.lease)
    try {
      send(this.acks)
    } catch {
      // Channel closed: the broker put the message back when it closed.
    }
  }
}
