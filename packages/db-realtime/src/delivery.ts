import { type DeadLetterReason, type Delivery, type Envelope, tryDecodeEnvelope } from '@tierbus/core'
import { type InFlightSlot, SettleOnce } from '@tierbus/core/adapter'
import type { DbSubscription } from './subscription.js'

const MAX_INT = 2_147_483_647

/** A claimed row handed to the consumer; settles through the tierbus SQL functions, guarded by its attempt. */
export class DbDelivery implements Delivery {
  readonly envelope: Envelope | undefined
  readonly malformed: { readonly raw: string; readonly error: string } | undefined
  private readonly once: SettleOnce

  constructor(
    private readonly subscription: DbSubscription,
    slot: InFlightSlot,
    readonly seq: number,
    readonly attempt: number,
    text: string,
  ) {
    this.once = new SettleOnce(slot, () => subscription.transport.isClosed)
    const decoded = tryDecodeEnvelope(text)
    this.envelope = decoded.envelope
    this.malformed = decoded.malformed
  }

  ack(): Promise<void> {
    const { groupId } = this.subscription
    return this.settle(() =>
      this.subscription.transport.acks.ack(String(groupId), { group: groupId, seq: this.seq, attempt: this.attempt }),
    )
  }

  retry(delayMs: number): Promise<void> {
    const delay = Math.max(0, Math.min(MAX_INT, Math.round(delayMs)))
    return this.settle(() =>
      this.subscription.call('retry', [this.subscription.groupId, this.seq, this.attempt, delay]),
    )
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    return this.settle(() =>
      this.subscription.call('dead_letter', [
        this.subscription.groupId,
        this.seq,
        this.attempt,
        reason.kind,
        reason.error,
        reason.attempts,
      ]),
    )
  }

  touch(): Promise<void> {
    return this.once.touch(() =>
      this.subscription.call('touch', [
        this.subscription.groupId,
        this.seq,
        this.attempt,
        this.subscription.spec.leaseMs,
      ]),
    )
  }

  private settle(action: () => Promise<unknown>): Promise<void> {
    return this.once.settle(async () => {
      await action()
      this.subscription.stored(this.envelope?.subject !== undefined)
    })
  }
}
