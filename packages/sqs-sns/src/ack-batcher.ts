import { DeleteMessageBatchCommand, type DeleteMessageBatchCommandOutput } from '@aws-sdk/client-sqs'
import { TransportError } from '@tierbus/core'
import { AckCoalescer, type AckGroup, type AckGroupResult } from '@tierbus/core/adapter'
import { transportError } from './aws-errors.js'
import { CommandSender } from './command-sender.js'
import type { SqsClients } from './options.js'

/** Entries per DeleteMessageBatch (SQS limit). */
const DELETE_BATCH_ENTRIES = 10

/**
 * Acks (message deletes) coalesced by core's ack coalescer, keyed by queue URL: the 10th pending delete
 * of a queue sends its DeleteMessageBatch at once (a received batch of 10, handled, is deleted as the raw
 * receive-handle-delete loop does); fewer wait for the window, or for the delete in flight, and go together.
 */
export function deleteCoalescer(clients: SqsClients, windowMs: number): AckCoalescer<string> {
  const deletes = new CommandSender<DeleteMessageBatchCommand, DeleteMessageBatchCommandOutput>(clients.sqs)
  return new AckCoalescer<string>({
    maxGroupSize: DELETE_BATCH_ENTRIES,
    windowMs,
    send: (groups) => Promise.all(groups.map((g) => deleteBatch(deletes, g))),
  })
}

async function deleteBatch(
  deletes: CommandSender<DeleteMessageBatchCommand, DeleteMessageBatchCommandOutput>,
  { key: queueUrl, items: receiptHandles }: AckGroup<string>,
): Promise<AckGroupResult> {
  try {
    const out = await deletes.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: receiptHandles.map((handle, i) => ({ Id: String(i), ReceiptHandle: handle })),
      }),
    )
    if (!out.Failed?.length) return undefined
    const failed = new Map(out.Failed.map((f) => [f.Id, f]))
    return {
      itemErrors: receiptHandles.map((_, i) => {
        const f = failed.get(String(i))
        return f
          ? new TransportError(
              `SQS did not delete an acked message (${f.Code}: ${f.Message ?? ''}); it will be delivered again after its visibility timeout`,
              { retryable: !f.SenderFault },
            )
          : undefined
      }),
    }
  } catch (err) {
    return { error: transportError(`DeleteMessageBatch on ${queueUrl}`, err) }
  }
}
