import { randomUUID } from 'node:crypto'
import { ChangeMessageVisibilityCommand, type MessageAttributeValue, SendMessageCommand } from '@aws-sdk/client-sqs'
import type { DeadLetterReason, Delivery, Envelope } from '@tierbus/core'
import { type AckCoalescer, type InFlightSlot, SettleOnce } from '@tierbus/core/adapter'
import { DEAD_LETTER_ATTRIBUTES, MAX_REASON_ERROR_CHARS, sendableBody, TYPE_ATTRIBUTE } from './attributes.js'
import { transportError } from './aws-errors.js'
import { fifoId } from './names.js'
import type { SqsClients } from './options.js'
import type { QueueRef } from './provision.js'
import { visibilitySeconds } from './topology.js'

/** What every delivery of one subscription shares. */
export interface DeliveryContext {
  readonly clients: SqsClients
  /** Message deletes, keyed by queue URL. */
  readonly acks: AckCoalescer<string>
  readonly queue: QueueRef
  /** Undefined for an ephemeral inbox: its dead letters are dropped with the inbox. */
  readonly dlq: QueueRef | undefined
  readonly group: string
  readonly fifo: boolean
  readonly leaseMs: number
  /** True once the transport is closed (settles are then no-ops). */
  readonly isClosed: () => boolean
}

/** One received SQS message, before decoding. */
export interface ReceivedMessage {
  readonly body: string
  readonly receiptHandle: string
  readonly attempt: number
  /** The `type` message attribute, when present. */
  readonly type: string | undefined
  /** The FIFO MessageGroupId, when present. */
  readonly messageGroupId: string | undefined
}

/** A message handed to core: ack = delete, retry = change visibility, deadLetter = send to the DLQ with the reason, then delete. */
export class SqsDelivery implements Delivery {
  private readonly once: SettleOnce

  constructor(
    private readonly ctx: DeliveryContext,
    slot: InFlightSlot,
    private readonly message: ReceivedMessage,
    readonly envelope: Envelope | undefined,
    readonly malformed: { readonly raw: string; readonly error: string } | undefined,
  ) {
    this.once = new SettleOnce(slot, ctx.isClosed)
  }

  get attempt(): number {
    return this.message.attempt
  }

  ack(): Promise<void> {
    return this.once.settle(() => this.ctx.acks.ack(this.ctx.queue.url, this.message.receiptHandle))
  }

  retry(delayMs: number): Promise<void> {
    // SQS counts visibility in whole seconds: the delay is rounded up.
    return this.once.settle(() => this.changeVisibility(visibilitySeconds(delayMs), 'retry'))
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    return this.once.settle(async () => {
      if (this.ctx.dlq) await sendToDeadLetterQueue(this.ctx, this.ctx.dlq, this.message, reason)
      // Sent first, deleted second: a crash in between leaves a duplicate, never a loss.
      await this.ctx.acks.ack(this.ctx.queue.url, this.message.receiptHandle)
    })
  }

  touch(): Promise<void> {
    return this.once.touch(() => this.changeVisibility(Math.max(1, visibilitySeconds(this.ctx.leaseMs)), 'touch'))
  }

  private async changeVisibility(seconds: number, why: string): Promise<void> {
    try {
      await this.ctx.clients.sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.ctx.queue.url,
          ReceiptHandle: this.message.receiptHandle,
          VisibilityTimeout: seconds,
        }),
      )
    } catch (err) {
      throw transportError(`ChangeMessageVisibility (${why}) on ${this.ctx.queue.name}`, err)
    }
  }
}

function stringAttribute(value: string): MessageAttributeValue {
  return { DataType: 'String', StringValue: value }
}

/** Writes a message to the group's DLQ with the reason as message attributes. */
export async function sendToDeadLetterQueue(
  ctx: DeliveryContext,
  dlq: QueueRef,
  message: ReceivedMessage,
  reason: DeadLetterReason,
): Promise<void> {
  const attributes: Record<string, MessageAttributeValue> = {
    [DEAD_LETTER_ATTRIBUTES.kind]: stringAttribute(reason.kind),
    [DEAD_LETTER_ATTRIBUTES.error]: stringAttribute(reason.error.slice(0, MAX_REASON_ERROR_CHARS) || '(no message)'),
    [DEAD_LETTER_ATTRIBUTES.attempts]: { DataType: 'Number', StringValue: String(reason.attempts) },
    [DEAD_LETTER_ATTRIBUTES.group]: stringAttribute(ctx.group),
    [DEAD_LETTER_ATTRIBUTES.failedAt]: stringAttribute(new Date().toISOString()),
  }
  if (message.type) attributes[TYPE_ATTRIBUTE] = stringAttribute(message.type)
  // Sending the body back as received would fail with InvalidMessageContents, and the message would end in
  // the DLQ by native redrive with the reason lost: such a body is kept as base64 instead.
  const { body, base64 } = sendableBody(message.body)
  if (base64) attributes[DEAD_LETTER_ATTRIBUTES.bodyEncoding] = stringAttribute('base64')
  try {
    await ctx.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: dlq.url,
        MessageBody: body,
        MessageAttributes: attributes,
        // A fresh dedup id: the same event may be dead-lettered again (after a redrive) within FIFO's 5-minute dedup window.
        ...(ctx.fifo
          ? {
              MessageGroupId: message.messageGroupId ?? fifoId(message.type ?? 'unknown'),
              MessageDeduplicationId: randomUUID(),
            }
          : {}),
      }),
    )
  } catch (err) {
    throw transportError(`sending a dead letter to ${dlq.name}`, err)
  }
}
