import { ChangeMessageVisibilityBatchCommand, ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs'
import { compilePattern, tryDecodeEnvelope, type Delivery, type SubscriptionSpec } from '@tierbus/core'
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
  readonly onError: (error: unknown) => void
}

/**
 * The receive loop of one subscription member: long-polls its queue for up to min(10, free slots)
 * messages, hands them to core in one batch, and waits for core before polling again.
 */
export class QueuePoller {
  private closed = false
  private handing = false
  private unsettled = 0
  private wakeUp: (() => void) | undefined
  private readonly abort = new AbortController()
  private readonly matches: (type: string) => boolean
  private readonly context: DeliveryContext
  private loop: Promise<void> | undefined

  constructor(
    context: Omit<DeliveryContext, 'onSettled'>,
    private readonly options: PollerOptions,
  ) {
    this.matches = compilePattern(options.spec.pattern)
    this.context = {
      ...context,
      onSettled: () => {
        this.unsettled--
        this.wake()
      },
    }
  }

  start(): void {
    this.loop ??= this.run()
  }

  /** Stops intake: aborts the pending long poll; received but unhanded messages are made visible again. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.abort.abort()
    this.wake()
    // While core holds the loop in onBatch (waiting for room), do not wait for it: close must not
    // depend on handlers finishing. The loop exits as soon as onBatch returns.
    if (!this.handing) await this.loop
  }

  private wake(): void {
    const w = this.wakeUp
    this.wakeUp = undefined
    w?.()
  }

  private async run(): Promise<void> {
    const { spec } = this.options
    const visibility = Math.max(1, visibilitySeconds(spec.leaseMs))
    let backoff: number = ERROR_BACKOFF.initialMs
    while (!this.closed) {
      const room = Math.min(RECEIVE_BATCH, spec.maxInFlight - this.unsettled)
      if (room <= 0) {
        await new Promise<void>((resolve) => (this.wakeUp = resolve))
        continue
      }
      let messages: Message[]
      try {
        const out = await this.context.clients.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.context.queue.url,
            MaxNumberOfMessages: room,
            WaitTimeSeconds: this.options.waitTimeSeconds,
            VisibilityTimeout: visibility,
            MessageAttributeNames: ['All'],
            MessageSystemAttributeNames: this.context.fifo ? ['ApproximateReceiveCount', 'MessageGroupId'] : ['ApproximateReceiveCount'],
          }),
          { abortSignal: this.abort.signal },
        )
        messages = out.Messages ?? []
        backoff = ERROR_BACKOFF.initialMs
      } catch (err) {
        if (this.closed) break
        this.options.onError(transportError(`ReceiveMessage on ${this.context.queue.name}`, err))
        await this.pause(backoff)
        backoff = Math.min(ERROR_BACKOFF.maxMs, backoff * 2)
        continue
      }
      if (messages.length === 0) continue
      if (this.closed) {
        await this.release(messages)
        break
      }
      const batch: Delivery[] = []
      for (const m of messages) {
        const d = this.toDelivery(m)
        if (d) batch.push(d)
      }
      if (batch.length === 0) continue
      this.unsettled += batch.length
      this.handing = true
      try {
        await this.options.onBatch(batch)
      } catch (err) {
        // Core's accept does not throw; if a custom consumer does, its deliveries stay leased and come back.
        this.options.onError(err)
      } finally {
        this.handing = false
      }
    }
  }

  /** Decodes a message; a decoded event outside the pattern (a wildcard's prefix filter let it through) is acked silently. */
  private toDelivery(m: Message): SqsDelivery | undefined {
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
      this.context.acks.delete(this.context.queue.url, received.receiptHandle).catch(this.options.onError)
      return undefined
    }
    return new SqsDelivery(this.context, received, envelope, malformed)
  }

  /** Makes messages visible again at once (received while closing). */
  private async release(messages: Message[]): Promise<void> {
    try {
      await this.context.clients.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.context.queue.url,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 })),
        }),
      )
    } catch (err) {
      // They reappear after the visibility timeout anyway.
      this.options.onError(transportError(`releasing received messages on ${this.context.queue.name}`, err))
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.wakeUp = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }
}
