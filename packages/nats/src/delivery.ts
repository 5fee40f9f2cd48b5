import { type DeadLetterReason, type Delivery, type Envelope, tryDecodeEnvelope } from '@tierbus/core'
import { type InFlightSlot, SettleOnce } from '@tierbus/core/adapter'
import type { JetStreamDeadLetters } from './dead-letters.js'
import { attemptAfterDeferrals, dueTimeOf } from './deferral.js'
import { transportError } from './errors.js'
import type { PulledMessage } from './pulled-message.js'

/** What a delivery needs from its subscription. */
export interface DeliveryOwner {
  readonly group: string
  readonly durable: string
  readonly deadLetters: JetStreamDeadLetters
  /** Called once the message is settled (ordered groups stop keeping it alive). */
  settled?(msg: PulledMessage): void
}

/**
 * A JetStream message handed to core: ack → `+ACK`, retry → `NAK` with delay, deadLetter → write the
 * DLQ entry then `+TERM`, touch → `+WPI` (resets ack_wait). `attempt` is JetStream's delivery count.
 */
export class JetStreamDelivery implements Delivery {
  readonly envelope: Envelope | undefined
  readonly malformed?: { readonly raw: string; readonly error: string }
  private readonly once: SettleOnce

  constructor(
    private readonly msg: PulledMessage,
    private readonly owner: DeliveryOwner,
    slot: InFlightSlot,
    isClosed: () => boolean,
  ) {
    this.once = new SettleOnce(slot, isClosed)
    const { envelope, malformed } = tryDecodeEnvelope(msg.data)
    this.envelope = envelope
    if (malformed) this.malformed = malformed
  }

  get attempt(): number {
    const due = dueTimeOf(this.msg.headers)
    if (due === undefined || !this.envelope) return this.msg.deliveryCount
    return attemptAfterDeferrals(this.msg.deliveryCount, due, Date.parse(this.envelope.time))
  }

  ack(): Promise<void> {
    return this.once.settle(() => this.respond('acking', () => this.msg.ack()))
  }

  retry(delayMs: number): Promise<void> {
    return this.once.settle(() => this.respond('nak-ing', () => this.msg.nak(Math.max(0, Math.round(delayMs)))))
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    return this.once.settle(async () => {
      // Stored first: if the write fails the message stays unacked and comes back, so it is never lost.
      this.owner.settled?.(this.msg)
      await this.owner.deadLetters.write(
        { group: this.owner.group, durable: this.owner.durable, subject: this.msg.subject, data: this.msg.data },
        reason,
      )
      this.respond('terminating', () => this.msg.term())
    })
  }

  touch(): Promise<void> {
    return this.once.touch(() => {
      try {
        this.msg.working()
      } catch (err) {
        throw transportError(`extending the ack wait of a message of group ${this.owner.group}`, err)
      }
    })
  }

  private respond(what: string, action: () => void): void {
    this.owner.settled?.(this.msg)
    try {
      action()
    } catch (err) {
      throw transportError(
        `${what} a message of group ${this.owner.group} (it will be redelivered after its ack wait)`,
        err,
      )
    }
  }
}
