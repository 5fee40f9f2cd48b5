import type { Channel, ConsumeMessage } from 'amqplib'

/**
 * The settlements of one consumer channel. A nack goes out at once; acks made in one turn of the event
 * loop go out together on the next tick: those below every delivery still open as one `basic.ack` with
 * `multiple` (the broker then acks every unacked tag up to it), the others one by one. A burst of 64
 * handled events costs one ack frame and one socket write instead of 64: profiled, the socket write per
 * ack was the largest single cost of consuming (raw amqplib's too).
 *
 * What is acked does not change: an ack leaves only after core settled the delivery, and a multiple ack
 * never covers a delivery that is being handled, waits for a slot, or was handed back, because every
 * delivery of the channel is registered (`received`) when it arrives, before anything can settle it.
 * Should the tags ever not come as 1, 2, 3 ... (a delivery that bypassed `received`), only single acks
 * are sent from then on.
 */
export class ChannelAcks {
  /** Tags received and not yet acked or nacked towards the broker (at most the channel's prefetch). */
  private readonly open = new Set<number>()
  /** Acked by core, not sent yet (a subset of `open`). */
  private readonly acked = new Map<number, ConsumeMessage>()
  private lastTag = 0
  private contiguous = true
  private scheduled = false
  private readonly flushSoon = () => this.flush()

  constructor(readonly channel: Channel) {}

  /** Registers a delivery as it arrives, before core or anyone can settle it. */
  received(msg: ConsumeMessage): void {
    const tag = msg.fields.deliveryTag
    if (tag !== this.lastTag + 1) this.contiguous = false
    this.lastTag = tag
    this.open.add(tag)
  }

  /** Acks on the next tick, together with the other acks of this turn. */
  ack(msg: ConsumeMessage): void {
    this.acked.set(msg.fields.deliveryTag, msg)
    if (this.scheduled) return
    this.scheduled = true
    process.nextTick(this.flushSoon)
  }

  /** Hands a delivery back (requeued) at once, after the acks made before it. */
  nack(msg: ConsumeMessage): void {
    this.flush()
    this.open.delete(msg.fields.deliveryTag)
    try {
      this.channel.nack(msg, false, true)
    } catch {
      // Channel closed: the broker requeued it.
    }
  }

  /** Sends the acks made so far: on the tick after they were made, and before the channel is closed. */
  flush(): void {
    this.scheduled = false
    if (this.acked.size === 0) return
    // The lowest delivery still open that is not acked now: a multiple ack must stay below it.
    let lowest = Number.POSITIVE_INFINITY
    for (const tag of this.open) if (tag < lowest && !this.acked.has(tag)) lowest = tag
    let upTo = 0
    let last: ConsumeMessage | undefined
    if (this.contiguous) {
      for (const [tag, msg] of this.acked) {
        if (tag < lowest && tag > upTo) {
          upTo = tag
          last = msg
        }
      }
    }
    try {
      if (last) this.channel.ack(last, true)
      for (const [tag, msg] of this.acked) if (tag > upTo) this.channel.ack(msg)
    } catch {
      // Channel closed: the broker put the messages back when it closed.
    }
    for (const tag of this.acked.keys()) this.open.delete(tag)
    this.acked.clear()
  }
}
