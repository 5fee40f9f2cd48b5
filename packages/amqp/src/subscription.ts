import type { Delivery, Subscription, SubscriptionSpec } from '@tierbus/core'
import { BatchPump, InFlight, type ReconnectBackoff, reconnectWithBackoff } from '@tierbus/core/adapter'
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib'
import { ChannelAcks } from './acks.js'
import { AmqpDelivery, type DeliveryContext } from './delivery.js'
import { transportError } from './errors.js'
import type { QueuePlan } from './topology.js'

/** What a subscription needs besides its spec and plan. */
export interface SubscriptionContext extends DeliveryContext {
  readonly backoff: ReconnectBackoff
  readonly onError: (err: unknown) => void
}

/**
 * One member of a group: a channel of its own consuming the plan's queue(s), with `prefetch` so the
 * broker never has more than `maxInFlight` messages out to it (split over an ordered group's
 * partitions; what arrives beyond the budget waits here until a slot frees). Deliveries go to core
 * through the kit's BatchPump, one `onBatch` at a time. After a reconnect the transport calls `open`
 * on the new connection; a channel the broker closed alone (a deleted queue) is re-opened with backoff.
 */
export class AmqpSubscription implements Subscription {
  private readonly inFlight: InFlight
  private readonly pump: BatchPump<AmqpDelivery>
  /** Received while every slot was taken (an ordered group's partitions together may exceed the budget). */
  private waiting: Array<{ msg: ConsumeMessage; acks: ChannelAcks; queue: string }> = []
  private channel: Channel | undefined
  /** The settlements of `channel` (acks go out together, see ChannelAcks). */
  private acks: ChannelAcks | undefined
  /** Consumer tags on the current channel (cancelled on close). */
  private consumerTags: string[] = []
  private closed = false
  private readonly stopping = new AbortController()

  constructor(
    readonly spec: SubscriptionSpec,
    onBatch: (batch: Delivery[]) => Promise<void>,
    readonly plan: QueuePlan,
    private readonly ctx: SubscriptionContext,
  ) {
    this.inFlight = new InFlight(spec.maxInFlight, () => this.admit())
    this.pump = new BatchPump(onBatch, ctx.onError)
  }

  /** Declares the queues and starts consuming on `connection` (first start, and after every reconnect). */
  async open(connection: ChannelModel): Promise<void> {
    if (this.closed) return
    await this.plan.declare(connection)
    let ch: Channel
    try {
      ch = await connection.createChannel()
    } catch (err) {
      throw transportError(`opening the channel of group ${this.spec.group}`, err)
    }
    ch.on('error', () => {})
    ch.once('close', () => this.channelClosed(ch, connection))
    const acks = new ChannelAcks(ch)
    this.channel = ch
    this.acks = acks
    this.consumerTags = []
    try {
      const per = Math.max(1, Math.floor(this.spec.maxInFlight / this.plan.queues.length))
      await ch.prefetch(per, false)
      for (const queue of this.plan.queues) {
        const { consumerTag } = await ch.consume(
          queue,
          (msg) => (msg ? this.receive(msg, acks, queue) : this.cancelledByBroker(queue)),
          { noAck: false },
        )
        this.consumerTags.push(consumerTag)
      }
    } catch (err) {
      // Given up here (the caller retries or fails): its close must not start a re-open of its own.
      this.channel = undefined
      this.acks = undefined
      await ch.close().catch(() => {})
      throw transportError(`consuming queue ${this.plan.queues.join(', ')} of group ${this.spec.group}`, err)
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.stopping.abort()
    const ch = this.channel
    if (this.plan.singleActiveConsumer) {
      // An ordered group: handing messages back one by one, or cancelling while core still holds earlier ones,
      // would let the next member take later events of a key first. Keep everything unacked and let the channel
      // close (when the last held delivery settles, or with the connection) return them all, in queue order.
      this.pump.stop()
      if (ch && this.inFlight.held === 0) {
        this.acks?.flush()
        await ch.close().catch(() => {})
      }
      return
    }
    // Stop intake first, then hand back what was received and never handed to core.
    for (const d of this.pump.stop()) d.handBack()
    for (const w of this.waiting) w.acks.nack(w.msg)
    this.waiting = []
    if (ch) {
      if (this.inFlight.held === 0) {
        // Acks of this turn go out first: closing would hand those messages back to the group.
        this.acks?.flush()
        await ch.close().catch(() => {})
      } else await this.cancelConsumers(ch)
    }
    // Not awaiting an onBatch in progress: core may wait there for handlers that end only after close.
    if (this.plan.remove && this.ctx.link.now) await this.plan.remove(this.ctx.link.now.consumer).catch(() => {})
  }

  private receive(msg: ConsumeMessage, acks: ChannelAcks, queue: string): void {
    acks.received(msg)
    if (this.closed) {
      // An ordered group keeps it unacked until its channel closes (see close), so it returns in order.
      if (!this.plan.singleActiveConsumer) acks.nack(msg)
      return
    }
    this.waiting.push({ msg, acks, queue })
    this.admit()
  }

  /** Hands waiting messages to core while slots are free; once closed, closes the channel when the last one settled. */
  private admit(): void {
    while (!this.closed && this.waiting.length > 0 && this.inFlight.room > 0) {
      const w = this.waiting.shift()
      if (!w) break
      const slot = this.inFlight.takeOne()
      const d = new AmqpDelivery(w.msg, w.acks, w.queue, slot, this.ctx)
      d.startLease()
      this.pump.push(d, slot)
    }
    // On the next turn: the settle that freed the last slot sends its ack after this returns.
    if (this.closed && this.inFlight.held === 0 && this.channel) setImmediate(() => this.closeIdleChannel())
  }

  private closeIdleChannel(): void {
    const ch = this.channel
    if (!ch || this.inFlight.held > 0) return
    this.acks?.flush()
    this.channel = undefined
    this.acks = undefined
    void ch.close().catch(() => {})
  }

  private async cancelConsumers(ch: Channel): Promise<void> {
    for (const tag of this.consumerTags) await ch.cancel(tag).catch(() => {})
  }

  /** The broker cancelled a consumer (its queue was deleted): re-opening the channel declares the queue again. */
  private cancelledByBroker(queue: string): void {
    if (this.closed) return
    this.ctx.onError(
      transportError(
        `consuming queue ${queue} of group ${this.spec.group}`,
        new Error('the broker cancelled the consumer (queue deleted?); re-declaring it'),
      ),
    )
    void this.channel?.close().catch(() => {})
  }

  /** The channel closed: re-open it if the connection lives on (else the link's reconnect re-opens everything). */
  private channelClosed(ch: Channel, connection: ChannelModel): void {
    // Messages that waited for a slot went back to the queue with the channel.
    this.waiting = this.waiting.filter((w) => w.acks.channel !== ch)
    // Only the current channel is re-opened (not one replaced meanwhile, given up by `open`, or closed idle).
    if (this.channel !== ch) return
    this.channel = undefined
    this.acks = undefined
    if (this.closed) return
    const live = this.ctx.link.now
    if (!live || live.consumer !== connection) return
    void reconnectWithBackoff(
      async () => {
        const now = this.ctx.link.now
        if (!now || now.consumer !== connection || this.closed) return
        await this.open(connection)
      },
      { backoff: this.ctx.backoff, signal: this.stopping.signal, onAttemptFailed: (err) => this.ctx.onError(err) },
    )
  }
}
