import type { Msg, MsgHdrs } from 'nats'

/** Acknowledgement payloads of the JetStream protocol (sent to the message's reply subject). */
export const ACK_PAYLOADS = Object.freeze({ ack: '+ACK', working: '+WPI', term: '+TERM', nak: '-NAK' })

/**
 * A message delivered by a JetStream pull consumer, read straight from the NATS message: acks go to
 * its `$JS.ACK...` reply subject, which also carries the delivery count.
 */
export class PulledMessage {
  /** 1 on first delivery, +1 per redelivery (JetStream's `num_delivered`). */
  readonly deliveryCount: number

  constructor(private readonly msg: Msg) {
    this.deliveryCount = deliveryCountOf(msg.reply ?? '')
  }

  get data(): Uint8Array {
    return this.msg.data
  }

  get subject(): string {
    return this.msg.subject
  }

  get headers(): MsgHdrs | undefined {
    return this.msg.headers
  }

  ack(): void {
    this.msg.respond(ACK_PAYLOADS.ack)
  }

  /** Redeliver after `delayMs` (0: at once). */
  nak(delayMs = 0): void {
    this.msg.respond(
      delayMs > 0 ? `${ACK_PAYLOADS.nak} ${JSON.stringify({ delay: delayMs * 1_000_000 })}` : ACK_PAYLOADS.nak,
    )
  }

  /** Resets the ack wait (a long handler is still working). */
  working(): void {
    this.msg.respond(ACK_PAYLOADS.working)
  }

  /** Never redeliver. */
  term(): void {
    this.msg.respond(ACK_PAYLOADS.term)
  }
}

/**
 * `num_delivered` from a JetStream ack subject: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`
 * (9 tokens) or, on newer servers, `$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>...` (12+ tokens).
 */
export function deliveryCountOf(reply: string): number {
  const tokens = reply.split('.')
  const raw = tokens.length === 9 ? tokens[4] : tokens.length >= 11 ? tokens[6] : undefined
  const n = Number(raw)
  return Number.isInteger(n) && n > 0 ? n : 1
}
