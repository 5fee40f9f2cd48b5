import { tryDecodeEnvelope, type DeadLetterReason, type Delivery, type Envelope } from '@tierbus/core'
import type { JetStreamDeadLetters } from './dead-letters.js'
import { transportError } from './errors.js'
import type { PulledMessage } from './pulled-message.js'


/** What a delivery needs from its subscription. */
export interface DeliveryOwner {
  readonly group: string
  readonly durable: string
  readonly deadLetters: JetStreamDeadLetters
  /** Called once when the delivery is settled (frees a slot for the next fetch). */
  settled(): void
}

/**
 * A JetStream message handed to core: ack → `+ACK`, retry → `NAK` with delay, deadLetter → write the
 * DLQ entry then `+TERM`, touch → `+WPI` (resets ack_wait). `attempt` is JetStream's delivery count.
 */
export class JetStreamDelivery implements Delivery {
  readonly envelope: Envelope | undefined
  readonly malformed?: { readonly raw: string; readonly error: string }
  private done = false

  constructor(
    private readonly msg: PulledMessage,
    private readonly owner: DeliveryOwner,
  ) {
    const { envelope, malformed } = tryDecodeEnvelope(msg.data)
    this.envelope = envelope
    if (malformed) this.malformed = malformed
  }

  get attempt(): number {
    return this.msg.deliveryCount
  }

  async ack(): Promise<void> {
    this.settle('acking', () => this.msg.ack())
  }

  async retry(delayMs: number): Promise<void> {
    this.settle('nak-ing', () => this.msg.nak(Math.max(0, Math.round(delayMs))))
  }

  async deadLetter(reason: DeadLetterReason): Promise<void> {
    if (this.done) return
    // Stored first: if the write fails the message stays unacked and comes back, so it is never lost.
    await this.owner.deadLetters.write({ group: this.owner.group, durable: this.owner.durable, subject: this.msg.subject, data: this.msg.data }, reason)
    this.settle('terminating', () => this.msg.term())
  }

  async touch(): Promise<void> {
    if (this.done) return
    try {
      this.msg.working()
    } catch (err) {
      throw transportError(`extending the ack wait of a message of group ${this.owner.group}`, err)
    }
  }

  private settle(what: string, action: () => void): void {
    if (this.done) return
    this.done = true
    this.owner.settled()
    try {
      action()
    } catch (err) {
      throw transportError(`${what} a message of group ${this.owner.group} (it will be redelivered after its ack wait)`, err)
    }
  }
}
