import { randomUUID } from 'node:crypto'
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  type Message,
  SendMessageCommand,
} from '@aws-sdk/client-sqs'
import type { Envelope } from '@tierbus/core'
import { transportError } from './aws-errors.js'
import type { DeliveryContext } from './delivery.js'

/** Longest visibility timeout SQS allows (12 h): the longest one deferral can hold a message. */
export const MAX_VISIBILITY_MS = 43_200_000
/** Longest per-message `DelaySeconds` SQS allows (15 min). */
export const MAX_DELAY_SECONDS = 900

/**
 * Delayed delivery on SQS. SNS has no per-message delay, so an event published with `delayMs` reaches
 * the queues at once and is deferred where it is received: the first receive of an early message hides
 * it until due (ChangeMessageVisibility, up to 12 h); a message received early again (due more than 12 h
 * out) is sent anew with native `DelaySeconds` and the old copy deleted, which resets its receive count,
 * so deferrals never use up the attempts or trip the queue's RedrivePolicy.
 */
export type DeferralAction =
  | { readonly kind: 'hide'; readonly seconds: number }
  | { readonly kind: 'resend'; readonly delaySeconds: number }

/** The due time of an envelope, ms, when it has one. */
export function dueOf(envelope: Envelope | undefined): number | undefined {
  if (!envelope?.deliverat) return undefined
  const due = Date.parse(envelope.deliverat)
  return Number.isFinite(due) ? due : undefined
}

/** What to do with a message due at `due` received for the `receiveCount`-th time: nothing when it is due. */
export function deferralFor(
  due: number | undefined,
  receiveCount: number,
  now = Date.now(),
): DeferralAction | undefined {
  if (due === undefined || due <= now) return undefined
  const remaining = due - now
  if (receiveCount <= 1) return { kind: 'hide', seconds: Math.ceil(Math.min(remaining, MAX_VISIBILITY_MS) / 1_000) }
  return { kind: 'resend', delaySeconds: Math.min(MAX_DELAY_SECONDS, Math.ceil(remaining / 1_000)) }
}

/**
 * The attempt of a due message: a first receive before the due time was a deferral (hide), not an
 * attempt, so it is not counted. Deferrals happen only on a message's first receive.
 */
export function attemptAfterDeferral(
  receiveCount: number,
  firstReceivedAt: number | undefined,
  due: number | undefined,
): number {
  const deferred = due !== undefined && firstReceivedAt !== undefined && firstReceivedAt < due
  return Math.max(1, deferred ? receiveCount - 1 : receiveCount)
}

/** Carries out a deferral on the subscription's queue. */
export async function defer(ctx: DeliveryContext, message: Message, action: DeferralAction): Promise<void> {
  const { sqs } = ctx.clients
  const QueueUrl = ctx.queue.url
  try {
    if (action.kind === 'hide') {
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl,
          ReceiptHandle: message.ReceiptHandle,
          VisibilityTimeout: action.seconds,
        }),
      )
      return
    }
    await sqs.send(
      new SendMessageCommand({
        QueueUrl,
        MessageBody: message.Body ?? '',
        MessageAttributes: message.MessageAttributes,
        // FIFO queues take no per-message delay: the copy is hidden on its first receive instead.
        ...(ctx.fifo
          ? { MessageGroupId: message.Attributes?.MessageGroupId, MessageDeduplicationId: randomUUID() }
          : { DelaySeconds: action.delaySeconds }),
      }),
    )
    // Sent first, deleted second: a crash in between leaves a duplicate, never a loss.
    await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: message.ReceiptHandle }))
  } catch (err) {
    throw transportError(`deferring a delayed message on ${ctx.queue.name}`, err)
  }
}
