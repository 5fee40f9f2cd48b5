import {
  ChangeMessageVisibilityBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type ReceiveMessageCommandOutput,
} from '@aws-sdk/client-sqs'
import {
  compilePattern,
  type Delivery,
  type SubscriptionSpec,
  type TransportErrorListener,
  tryDecodeEnvelope,
} from '@tierbus/core'
import { FetchLoop, type InFlightSlot } from '@tierbus/core/adapter'
import { TYPE_ATTRIBUTE } from './attributes.js'
import { required, transportError } from './aws-errors.js'
import { CommandSender } from './command-sender.js'
import { attemptAfterDeferral, defer, deferralFor, dueOf } from './deferral.js'
import { type DeliveryContext, type ReceivedMessage, SqsDelivery } from './delivery.js'
import { visibilitySeconds } from './topology.js'

/** Messages per ReceiveMessage (SQS limit). */
const RECEIVE_BATCH = 10
/** System attributes every receive asks for: the attempt, and whether a delayed message was deferred. */
const RECEIVE_ATTRIBUTES: ['ApproximateReceiveCount', 'ApproximateFirstReceiveTimestamp', 'SentTimestamp'] = [
  'ApproximateReceiveCount',
  'ApproximateFirstReceiveTimestamp',
  'SentTimestamp',
]
/** Least time between two retention warnings of one queue. */
const RETENTION_WARNING_EVERY_MS = 60_000
/** Pause after a failed receive, doubling up to the max, so an outage does not spin. */
const ERROR_BACKOFF = Object.freeze({ initialMs: 200, maxMs: 5_000 })

/**
 * The abort signal of one poller's long polls, in the form the AWS SDK also takes (`aborted`, `reason`,
 * `onabort`): the SDK then sets `onabort` per request where it would add and remove a listener on an
 * `AbortSignal` (twice per request, in its retry step and its HTTP handler), which took ~5 % of a
 * consumer's CPU in bench/sqs.ts. A poller has one receive in flight at a time, so the `onabort` set
 * last belongs to the request to abort; one set by a finished request does nothing when called.
 */
class PollAbort {
  aborted = false
  reason: unknown = undefined
  onabort: ((this: unknown, ev: { type: 'abort' }) => void) | null = null

  abort(reason: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason
    const handler = this.onabort
    this.onabort = null
    handler?.call(this, { type: 'abort' })
  }
}

/**
 * Group `group` received a message `ageMs` old from `queue`: SQS deletes messages after the queue's
 * retention (at most 14 days) unconsumed or not, so the group is close to losing events silently.
 */
export class RetentionWarning extends Error {
  override readonly name = 'RetentionWarning'
  constructor(
    readonly queue: string,
    readonly group: string,
    readonly ageMs: number,
  ) {
    super(
      `group ${group} received a message ${Math.round(ageMs / 3_600_000)} h old from ${queue}: SQS deletes messages after the queue's retention (at most 14 days) whether or not they were consumed; add consumers or concurrency to this group before its backlog reaches that age`,
    )
  }
}

/** What a poller needs beyond the shared delivery context. */
export interface PollerOptions {
  readonly spec: SubscriptionSpec
  readonly waitTimeSeconds: number
  /** Receiving a message older than this warns that the queue's retention may delete unconsumed ones. */
  readonly retentionWarnAfterMs: number
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
  /** Aborted with the loop (close): ends the pending long poll. */
  private readonly pollAbort = new PollAbort()
  /** This poller's receives: one resolved middleware handler, with the abort signal above. */
  private readonly receiver: CommandSender<ReceiveMessageCommand, ReceiveMessageCommandOutput>
  private lastRetentionWarning = 0

  constructor(
    private readonly context: DeliveryContext,
    private readonly options: PollerOptions,
  ) {
    this.matches = compilePattern(options.spec.pattern)
    this.receiver = new CommandSender(context.clients.sqs, { abortSignal: this.pollAbort })
    this.loop = new FetchLoop<Message>({
      maxInFlight: options.spec.maxInFlight,
      fetch: (room) => this.receive(room),
      toDeliveries: (messages, slots) => {
        const now = Date.now()
        const deliveries: SqsDelivery[] = []
        for (const [i, message] of messages.entries()) {
          const slot = slots[i]
          if (!slot) throw new Error('internal: FetchLoop gave fewer in-flight slots than messages (a tierbus bug)')
          const delivery = this.toDelivery(message, slot, now)
          if (delivery) deliveries.push(delivery)
        }
        return deliveries
      },
      onBatch: options.onBatch,
      onError: (err) => this.report(err, 'receive'),
      handBack: (messages) => this.release(messages),
      backoff: ERROR_BACKOFF,
    })
    const closing = this.loop.signal
    closing.addEventListener('abort', () => this.pollAbort.abort(closing.reason), { once: true })
  }

  start(): void {
    this.loop.start()
  }

  /** Stops intake: aborts the pending long poll; received but unhanded messages are made visible again. */
  close(): Promise<void> {
    return this.loop.close()
  }

  private async receive(room: number): Promise<Message[]> {
    try {
      const out = await this.receiver.send(
        new ReceiveMessageCommand({
          QueueUrl: this.context.queue.url,
          MaxNumberOfMessages: Math.min(RECEIVE_BATCH, room),
          WaitTimeSeconds: this.options.waitTimeSeconds,
          VisibilityTimeout: Math.max(1, visibilitySeconds(this.options.spec.leaseMs)),
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: this.context.fifo
            ? [...RECEIVE_ATTRIBUTES, 'MessageGroupId']
            : RECEIVE_ATTRIBUTES,
        }),
      )
      return out.Messages ?? []
    } catch (err) {
      throw transportError(`ReceiveMessage on ${this.context.queue.name}`, err)
    }
  }

  /**
   * Decodes a message; a decoded event outside the pattern (a wildcard's prefix filter let it through) is
   * acked silently, and a delayed event received before it is due is deferred (see deferral.ts).
   */
  private toDelivery(m: Message, slot: InFlightSlot, now: number): SqsDelivery | undefined {
    this.checkAge(Number(m.Attributes?.SentTimestamp), now)
    const body = m.Body ?? ''
    const receiveCount = Math.max(1, Number(m.Attributes?.ApproximateReceiveCount ?? 1) || 1)
    const { envelope, malformed } = tryDecodeEnvelope(body)
    const typeAttribute = m.MessageAttributes?.[TYPE_ATTRIBUTE]?.StringValue
    const type = envelope?.type ?? typeAttribute
    if (type !== undefined && !this.matches(type)) {
      slot.free()
      this.context.acks
        .ack(this.context.queue.url, required(m.ReceiptHandle, 'ReceiptHandle'))
        .catch((err) => this.report(err, 'ack'))
      return undefined
    }
    const due = dueOf(envelope)
    const deferral = deferralFor(due, receiveCount)
    if (deferral) {
      slot.free()
      defer(this.context, m, deferral).catch((err) => this.report(err, 'defer'))
      return undefined
    }
    const firstReceivedAt = Number(m.Attributes?.ApproximateFirstReceiveTimestamp) || undefined
    const received: ReceivedMessage = {
      body,
      receiptHandle: required(m.ReceiptHandle, 'ReceiptHandle'),
      attempt: attemptAfterDeferral(receiveCount, firstReceivedAt, due),
      type: typeAttribute,
      messageGroupId: m.Attributes?.MessageGroupId,
    }
    return new SqsDelivery(this.context, slot, received, envelope, malformed)
  }

  /** Reports a background error of this subscription to `onError`. */
  private report(error: unknown, operation: string): void {
    this.options.onError(error, { operation, group: this.options.spec.group })
  }

  /** Warns (rate-limited) when the group is so far behind that SQS retention may delete what it has not read. */
  private checkAge(sentAt: number, now: number): void {
    const age = now - sentAt
    if (!(age > this.options.retentionWarnAfterMs) || now - this.lastRetentionWarning < RETENTION_WARNING_EVERY_MS)
      return
    this.lastRetentionWarning = now
    this.report(new RetentionWarning(this.context.queue.name, this.options.spec.group, age), 'retention')
  }

  /** Makes messages visible again at once (received while closing). */
  private async release(messages: readonly Message[]): Promise<void> {
    try {
      await this.context.clients.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.context.queue.url,
          Entries: messages.map((m, i) => ({
            Id: String(i),
            ReceiptHandle: required(m.ReceiptHandle, 'ReceiptHandle'),
            VisibilityTimeout: 0,
          })),
        }),
      )
    } catch (err) {
      // They reappear after the visibility timeout anyway.
      this.report(transportError(`releasing received messages on ${this.context.queue.name}`, err), 'release')
    }
  }
}
