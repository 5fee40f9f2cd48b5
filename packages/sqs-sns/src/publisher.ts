import { PublishBatchCommand, type PublishBatchCommandOutput, type PublishBatchRequestEntry } from '@aws-sdk/client-sns'
import { assertPublishable, type Envelope, encodeEnvelope, TransportError } from '@tierbus/core'
import { attributeBytes, SNS_MESSAGE_LIMIT_BYTES, TYPE_ATTRIBUTE } from './attributes.js'
import { transportError } from './aws-errors.js'
import { CommandSender } from './command-sender.js'
import { fifoId } from './names.js'
import type { SqsClients } from './options.js'

/** Entries per PublishBatch (SNS limit). */
export const PUBLISH_BATCH_ENTRIES = 10

/** Largest encoded envelope: the 256 KiB SNS message limit minus room for the `type` attribute. */
export const MAX_ENVELOPE_BYTES = SNS_MESSAGE_LIMIT_BYTES - 256

const TIER_LIMIT_TEXT =
  'SNS (256 KiB = 262144 bytes per published message, attributes included; use claim-check for bigger events)'

interface SizedEntry {
  readonly entry: PublishBatchRequestEntry
  readonly bytes: number
}

/** Builds one PublishBatch entry; throws a ValidationError naming the size and limit when the event is too large. */
export function publishEntry(envelope: Envelope, index: number, fifo: boolean): SizedEntry {
  // The type becomes the SNS `type` attribute that filter policies route on: checked at this boundary too.
  assertPublishable(envelope)
  const message = encodeEnvelope(envelope, MAX_ENVELOPE_BYTES, TIER_LIMIT_TEXT)
  const entry: PublishBatchRequestEntry = {
    Id: String(index),
    Message: message,
    MessageAttributes: { [TYPE_ATTRIBUTE]: { DataType: 'String', StringValue: envelope.type } },
  }
  if (fifo) {
    entry.MessageGroupId = fifoId(envelope.subject ?? envelope.type)
    entry.MessageDeduplicationId = fifoId(envelope.id)
  }
  // Only ASCII is common; Buffer.byteLength is exact for the rest.
  const bytes = Buffer.byteLength(message) + attributeBytes(TYPE_ATTRIBUTE, envelope.type)
  return { entry, bytes }
}

/** Splits items into PublishBatch-sized groups: at most 10 items and 256 KiB in total each, in order. */
export function chunkBySize<T>(
  items: readonly T[],
  bytesOf: (item: T) => number,
  maxEntries = PUBLISH_BATCH_ENTRIES,
  maxBytes = SNS_MESSAGE_LIMIT_BYTES,
): T[][] {
  const chunks: T[][] = []
  let current: T[] = []
  let size = 0
  for (const item of items) {
    const bytes = bytesOf(item)
    if (current.length > 0 && (current.length === maxEntries || size + bytes > maxBytes)) {
      chunks.push(current)
      current = []
      size = 0
    }
    current.push(item)
    size += bytes
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/** Splits entries into PublishBatch requests of at most 10 entries and 256 KiB in total, keeping their order. */
export function chunkEntries(entries: readonly SizedEntry[]): PublishBatchRequestEntry[][] {
  return chunkBySize(entries, (e) => e.bytes).map((chunk) => chunk.map((e) => e.entry))
}

interface PendingPublish {
  readonly entries: SizedEntry[]
  remaining: number
  failed: boolean
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

/**
 * Publishes envelopes to the namespace topic with as few PublishBatch calls as the limits allow.
 * Calls made in the same event-loop turn (e.g. concurrent `publish()` from many requests) share
 * batches; each call resolves when all of its own events are accepted.
 */
export class TopicPublisher {
  private queued: PendingPublish[] = []
  private scheduled = false
  /** FIFO: the previous flush, so flushes go out in call order. */
  private lastFlush: Promise<void> = Promise.resolve()
  /** PublishBatch calls through one resolved middleware handler (see CommandSender). */
  private readonly publishBatches: CommandSender<PublishBatchCommand, PublishBatchCommandOutput>

  constructor(
    clients: SqsClients,
    private readonly topicArn: () => Promise<string>,
    private readonly fifo: boolean,
    private readonly concurrency: number,
  ) {
    this.publishBatches = new CommandSender(clients.sns)
  }

  publish(batch: readonly Envelope[]): Promise<void> {
    if (batch.length === 0) return Promise.resolve()
    let entries: SizedEntry[]
    try {
      // Encode (and size-check) everything before sending anything, so an oversized event rejects the whole call.
      entries = batch.map((e) => publishEntry(e, 0, this.fifo))
    } catch (err) {
      return Promise.reject(err)
    }
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ entries, remaining: 0, failed: false, resolve, reject })
      if (!this.scheduled) {
        this.scheduled = true
        setImmediate(() => this.flush())
      }
    })
  }

  private flush(): void {
    this.scheduled = false
    const calls = this.queued
    this.queued = []
    const owned = calls.flatMap((call) => call.entries.map((sized) => ({ sized, call })))
    const chunks = chunkBySize(owned, (item) => item.sized.bytes)
    for (const chunk of chunks) for (const { call } of chunk) call.remaining++
    const settle = (chunk: Array<(typeof owned)[number]>, err?: unknown) => {
      for (const { call } of chunk) {
        if (call.failed) continue
        if (err !== undefined) {
          call.failed = true
          call.reject(err)
        } else if (--call.remaining === 0) call.resolve()
      }
    }
    const sendChunk = (chunk: Array<(typeof owned)[number]>, topicArn: string) =>
      this.send(
        topicArn,
        chunk.map(({ sized }, i) => ({ ...sized.entry, Id: String(i) })),
      ).then(
        () => settle(chunk),
        (err) => settle(chunk, err),
      )
    const run = async () => {
      let topicArn: string
      try {
        topicArn = await this.topicArn()
      } catch (err) {
        for (const chunk of chunks) settle(chunk, err)
        return
      }
      if (this.fifo) {
        // FIFO: one chunk after the other keeps publish order per MessageGroupId.
        for (const chunk of chunks) await sendChunk(chunk, topicArn)
        return
      }
      let next = 0
      const worker = async () => {
        for (let chunk = chunks[next++]; chunk !== undefined; chunk = chunks[next++]) await sendChunk(chunk, topicArn)
      }
      await Promise.all(Array.from({ length: Math.min(this.concurrency, chunks.length) }, worker))
    }
    if (this.fifo) this.lastFlush = this.lastFlush.then(run)
    else void run()
  }

  private async send(topicArn: string, entries: PublishBatchRequestEntry[]): Promise<void> {
    let out: PublishBatchCommandOutput
    try {
      out = await this.publishBatches.send(
        new PublishBatchCommand({ TopicArn: topicArn, PublishBatchRequestEntries: entries }),
      )
    } catch (err) {
      throw transportError(`PublishBatch of ${entries.length} event(s) to ${topicArn}`, err)
    }
    const failed = out.Failed ?? []
    if (failed.length > 0) {
      const detail = failed
        .slice(0, 3)
        .map((f) => `entry ${f.Id}: ${f.Code} ${f.Message ?? ''}`.trim())
        .join('; ')
      throw new TransportError(
        `SNS rejected ${failed.length} of ${entries.length} event(s) in a PublishBatch (${detail}); the others were published`,
        {
          retryable: failed.every((f) => !f.SenderFault),
        },
      )
    }
  }
}
