import type { DeadLetterReason, Delivery, Envelope } from '@tierbus/core'
import { decodeEntry, type StreamEntry } from './entries.js'

/** What a delivery asks its subscription to do; every method acts on one pending entry. */
export interface DeliveryOwner {
  /** Frees the delivery's in-flight slot; false when it was settled already. */
  release(delivery: StreamDelivery): boolean
  ack(entry: StreamEntry): Promise<void>
  retry(entry: StreamEntry, delayMs: number): Promise<void>
  deadLetter(entry: StreamEntry, reason: DeadLetterReason): Promise<void>
  touch(entry: StreamEntry): Promise<void>
}

/** One stream entry handed to core: settling maps onto XACK, a retry by idle time, or the DLQ script. */
export class StreamDelivery implements Delivery {
  readonly envelope: Envelope | undefined
  readonly malformed: { readonly raw: string; readonly error: string } | undefined
  /** Set once ack, retry or deadLetter was called. */
  settled = false

  constructor(
    private readonly owner: DeliveryOwner,
    readonly entry: StreamEntry,
  ) {
    const decoded = decodeEntry(entry)
    this.envelope = decoded.envelope
    this.malformed = decoded.malformed
  }

  get attempt(): number {
    return this.entry.deliveries
  }

  async ack(): Promise<void> {
    if (this.owner.release(this)) await this.owner.ack(this.entry)
  }

  async retry(delayMs: number): Promise<void> {
    if (this.owner.release(this)) await this.owner.retry(this.entry, delayMs)
  }

  async deadLetter(reason: DeadLetterReason): Promise<void> {
    if (this.owner.release(this)) await this.owner.deadLetter(this.entry, reason)
  }

  async touch(): Promise<void> {
    if (!this.settled) await this.owner.touch(this.entry)
  }
}
