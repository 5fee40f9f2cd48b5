import {
  type DeadLetterReason,
  type Delivery,
  type Envelope,
  type Subscription,
  type SubscriptionSpec,
  tryDecodeEnvelope,
} from '@tierbus/core'
import { BatchPump } from '@tierbus/core/adapter'
import type { Msg, NatsConnection, Subscription as NatsSubscription } from 'nats'
import type { JetStreamDeadLetters } from './dead-letters.js'
import { durableName } from './subjects.js'

/** A reply received on core NATS: nothing to ack (core NATS keeps nothing), dead letters still stored. */
class InboxDelivery implements Delivery {
  readonly envelope: Envelope | undefined
  readonly malformed?: { readonly raw: string; readonly error: string }
  readonly attempt = 1

  constructor(
    private readonly msg: Msg,
    private readonly group: string,
    private readonly deadLetters: JetStreamDeadLetters,
  ) {
    const { envelope, malformed } = tryDecodeEnvelope(msg.data)
    this.envelope = envelope
    if (malformed) this.malformed = malformed
  }

  async ack(): Promise<void> {}

  async retry(): Promise<void> {}

  async deadLetter(reason: DeadLetterReason): Promise<void> {
    await this.deadLetters.write(
      {
        group: this.group,
        durable: durableName(this.group, this.msg.subject),
        subject: this.msg.subject,
        data: this.msg.data,
      },
      reason,
    )
  }
}

/**
 * A request-reply inbox (`_inbox.<id>` types, ephemeral subscriptions) on core NATS: replies are
 * transient, go to one requester and are useless after its timeout, so they skip JetStream storage.
 */
export class InboxSubscription implements Subscription {
  private readonly sub: NatsSubscription
  private readonly pump: BatchPump<InboxDelivery>

  constructor(
    nc: NatsConnection,
    subject: string,
    spec: SubscriptionSpec,
    onBatch: (batch: Delivery[]) => Promise<void>,
    deadLetters: JetStreamDeadLetters,
    onError: (err: unknown) => void,
  ) {
    this.pump = new BatchPump(onBatch, onError)
    this.sub = nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) onError(err)
        else this.pump.push(new InboxDelivery(msg, spec.group, deadLetters))
      },
    })
  }

  async close(): Promise<void> {
    this.pump.stop()
    this.sub.unsubscribe()
  }
}
