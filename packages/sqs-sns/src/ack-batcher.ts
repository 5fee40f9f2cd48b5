import { DeleteMessageBatchCommand } from '@aws-sdk/client-sqs'
import { TransportError } from '@tierbus/core'
import { transportError } from './aws-errors.js'
import type { SqsClients } from './options.js'

/** Entries per DeleteMessageBatch (SQS limit). */
const DELETE_BATCH_ENTRIES = 10

interface PendingAck {
  readonly receiptHandle: string
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

/**
 * Collects acks (message deletes) per queue and sends them as DeleteMessageBatch calls: at once
 * when a queue has 10, otherwise after a short window. One timer per window, not per event.
 */
export class AckBatcher {
  private readonly pending = new Map<string, PendingAck[]>()
  private timer: NodeJS.Timeout | undefined
  private readonly inFlight = new Set<Promise<void>>()

  constructor(
    private readonly clients: SqsClients,
    private readonly windowMs: number,
  ) {}

  /** Deletes the message; resolves once SQS has deleted it. */
  delete(queueUrl: string, receiptHandle: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let list = this.pending.get(queueUrl)
      if (!list) this.pending.set(queueUrl, (list = []))
      list.push({ receiptHandle, resolve, reject })
      if (list.length >= DELETE_BATCH_ENTRIES) this.send(queueUrl, list.splice(0, DELETE_BATCH_ENTRIES))
      else if (this.windowMs === 0) this.flushNow()
      else this.timer ??= setTimeout(() => this.flushNow(), this.windowMs)
    })
  }

  /** Sends every pending ack and waits for all sends (close). */
  async flush(): Promise<void> {
    this.flushNow()
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight])
  }

  private flushNow(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    for (const [queueUrl, list] of this.pending) {
      while (list.length > 0) this.send(queueUrl, list.splice(0, DELETE_BATCH_ENTRIES))
    }
    this.pending.clear()
  }

  private send(queueUrl: string, acks: PendingAck[]): void {
    const done = this.deleteBatch(queueUrl, acks).finally(() => this.inFlight.delete(done))
    this.inFlight.add(done)
  }

  private async deleteBatch(queueUrl: string, acks: PendingAck[]): Promise<void> {
    try {
      const out = await this.clients.sqs.send(
        new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: acks.map((a, i) => ({ Id: String(i), ReceiptHandle: a.receiptHandle })) }),
      )
      const failed = new Map((out.Failed ?? []).map((f) => [f.Id, f]))
      acks.forEach((a, i) => {
        const f = failed.get(String(i))
        if (!f) a.resolve()
        else a.reject(new TransportError(`SQS did not delete an acked message (${f.Code}: ${f.Message ?? ''}); it will be delivered again after its visibility timeout`, { retryable: !f.SenderFault }))
      })
    } catch (err) {
      const error = transportError(`DeleteMessageBatch on ${queueUrl}`, err)
      for (const a of acks) a.reject(error)
    }
  }
}
