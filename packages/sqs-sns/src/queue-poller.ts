import { ChangeMessageVisibilityBatchCommand, ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs'
import { compilePattern, tryDecodeEnvelope, type Delivery, type SubscriptionSpec, type TransportErrorListener } from '@tierbus/core'
import { FetchLoop, type InFlightSlot } from '@tierbus/core/adapter'
import { TYPE_ATTRIBUTE } from './attributes.js'
import { transportError } from './aws-errors.js'
import { SqsDelivery, type DeliveryContext, type ReceivedMessage } from './delivery.js'
import { visibilitySeconds } from './topology.js'

/** Messages per ReceiveMessage (SQS limit). */
const RECEIVE_BATCH = 10
/** Pause after a failed receive, doubling up to the max, so an outage does not spin. */
const ERROR_BACKOFF = Object.freeze({ initialMs: 200, maxMs: 5_000 })

/** What a poller needs beyond the shared delivery context. */
export interface PollerOptions {
  readonly spec: SubscriptionSpec
  readonly waitTimeSeconds: number
  readonly onBatch: (batch: Delivery[]) => Promise<void>
  readonly onError: TransportErrorListener
}

/**
 * The receive loop of one subscription member: core's fetch loop around a long poll of its queue for
 * up to min(10, free slots) messages.
 */
export class QueuePoller {
  private readonly matches: (type: string) => boolean
  private readonly loop: FetchLoop<Message>

  constructor(
    private readonly context: DeliveryContext,
    private readonly options: PollerOptions,
  ) {
    this.matches = compilePattern(options.spec.pattern)
    this.loop = new FetchLoop<Message>({
      maxInFlight: options.spec.maxInFlight,
      fetch: (room, signal) => this.receive(room, signal),
      toDeliveries: (messages, slots) => messages.flatMap((m, i) => this.toDelivery(m, slots[i]!) ?? []),
      onBatch: options.onBatch,
      onError: (err) => options.onError(err, { operation: 'receive', group: options.spec.group }),
      handBack: (messages) => this.release(messages),
      backoff: ERROR_BACKOFF,
    })
  }

  start(): void {
    this.loop.start()
  }

  /** Stops intake: aborts the pending long poll; received but unhanded messages are made visible again. */
  close(): Promise<void> {
    return this.loop.close()
  }

  private async receive(room: number, signal: AbortSignal): Promise<Message[]> {
    try {
      const out = await this.context.clients.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.context.queue.url,
          MaxNumberOfMessages: Math.min(RECEIVE_BATCH, room),
          WaitTimeSeconds: this.options.waitTimeSeconds,
          VisibilityTimeout: Math.max(1, visibilitySeconds(this.options.spec.leaseMs)),
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: this.context.fifo ? ['ApproximateReceiveCount', 'MessageGroupId'] : ['ApproximateReceiveCount'],
        }),
        { abortSignal: signal },
      )
      return out.Messages ?? []
    } catch (err) {
      throw transportError(`ReceiveMessage on ${this.context.queue.name}`, err)
    }
  }

  /** Decodes a message; a decoded event outside the pattern (a wildcard's prefix filter let it through) is acked silently. */
  private toDelivery(m: Message, slot: InFlightSlot): SqsDelivery | undefined {
    const body = m.Body ?? ''
    const received: ReceivedMessage = {
      body,
      receiptHandle: m.ReceiptHandle!,
      attempt: Math.max(1, Number(m.Attributes?.ApproximateReceiveCount ?? 1) || 1),
      type: m.MessageAttributes?.[TYPE_ATTRIBUTE]?.StringValue,
      messageGroupId: m.Attributes?.MessageGroupId,
    }
    const { envelope, malformed } = tryDecodeEnvelope(body)
    const type = envelope?.type ?? received.type
    if (type !== undefined && !this.matches(type)) {
      slot.free()
      this.context.acks
        .ack(this.context.queue.url, received.receiptHandle)
        .catch((err) => this.options.onError(err, { operation: 'ack', group: this.options.spec.group }))
      return undefined
    }
    return new SqsDelivery(this.context, slot, received, envelope, malformed)
  }

  /** Makes messages visible again at once (received while closing). */
  private async release(messages: readonly Message[]): Promise<void> {
    try {
      await this.context.clients.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.context.queue.url,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 })),
        }),
      )
    } catch (err) {
      // They reappear after the visibility timeout anyway.
      this.options.onError(transportError(`releasing received messages on ${this.context.queue.name}`, err), {
        operation: 'release',
        group: this.options.spec.group,
      })
    }
  }
}
