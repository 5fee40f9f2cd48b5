import type { DeadLetterReason, Delivery, Envelope } from '@tierbus/core'
import { type InFlightSlot, SettleOnce } from '@tierbus/core/adapter'
import { decodeEntry, type StreamEntry } from './entries.js'

/** What a delivery asks its subscription to do; every method acts on one pending entry. */
export interface DeliveryOwner {
  ack(entry: StreamEntry): Promise<void>
  retry(entry: StreamEntry, delayMs: number): Promise<void>
  deadLetter(entry: StreamEntry, reason: DeadLetterReason): Promise<void>
  touch(entry: StreamEntry): Promise<void>
}

/** The ack of one delivery, a function made once (see SettleOnce.settle). */
function ackDelivery(d: StreamDelivery): Promise<void> {
  return d.owner.ack(d.entry)
}

/** One stream entry handed to core: settling maps onto XACK, a retry by idle time, or the DLQ script. */
export class StreamDelivery implements Delivery {
  readonly envelope: Envelope | undefined
  readonly malformed: { readonly raw: string; readonly error: string } | undefined
  private readonly once: SettleOnce

  constructor(
    readonly owner: DeliveryOwner,
    readonly entry: StreamEntry,
    slot: InFlightSlot,
    isClosed: () => boolean,
  ) {
    this.once = new SettleOnce(slot, isClosed)
    const decoded = decodeEntry(entry)
    this.envelope = decoded.envelope
    this.malformed = decoded.malformed
  }

  get attempt(): number {
    return this.entry.deliveries
  }

  ack(): Promise<void> {
    return this.once.settle(ackDelivery, this)
  }

  retry(delayMs: number): Promise<void> {
    return this.once.settle(() => this.owner.retry(this.entry, delayMs))
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    return this.once.settle(() => this.owner.deadLetter(this.entry, reason))
  }

  touch(): Promise<void> {
    return this.once.touch(() => this.owner.touch(this.entry))
  }
}
