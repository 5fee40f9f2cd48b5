import { randomUUID } from 'node:crypto'
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs'
import {
  DEAD_LETTER_KINDS,
  type DeadLetter,
  type DeadLetterKind,
  type DeadLetterReason,
  type DeadLetterStore,
  tryDecodeEnvelope,
} from '@tierbus/core'
import { DEAD_LETTER_ATTRIBUTES, QUEUE_TAGS, TYPE_ATTRIBUTE } from './attributes.js'
import { required, transportError } from './aws-errors.js'
import { fifoId, sourceOfDlq } from './names.js'
import type { SqsClients } from './options.js'
import { namespaceQueues, type TaggedQueue } from './provision.js'

/** How long dead letters being inspected stay hidden from other inspectors, seconds. */
const HOLD_SECONDS = 30
/** The first receive of a scan long-polls this long so SQS checks every server (short polls sample a subset). */
const SCAN_WAIT_SECONDS = 1

const KINDS = new Set<string>(Object.values(DEAD_LETTER_KINDS))

/** Splits a dead letter id (`<dlq name>/<message id>`). */
function parseId(id: string): { dlq: string; messageId: string } | undefined {
  const slash = id.lastIndexOf('/')
  return slash > 0 ? { dlq: id.slice(0, slash), messageId: id.slice(slash + 1) } : undefined
}

/** Dead letter ids grouped by the DLQ they name; malformed ids are dropped. */
function groupIds(ids: readonly string[]): Map<string, Set<string>> {
  const byQueue = new Map<string, Set<string>>()
  for (const id of ids) {
    const parsed = parseId(id)
    if (!parsed) continue
    let set = byQueue.get(parsed.dlq)
    if (!set) {
      set = new Set()
      byQueue.set(parsed.dlq, set)
    }
    set.add(parsed.messageId)
  }
  return byQueue
}

/**
 * The tier's dead letters, read from each group's DLQ. SQS cannot peek: listing receives messages,
 * holds them briefly and makes them visible again, so two inspectors at once may each see part of a DLQ.
 */
export class SqsDeadLetters implements DeadLetterStore {
  constructor(
    private readonly clients: SqsClients,
    private readonly prefix: string,
    private readonly fifo: boolean,
  ) {}

  async list(options: { group?: string; limit?: number } = {}): Promise<DeadLetter[]> {
    const limit = options.limit ?? 100
    try {
      const dlqs = (await namespaceQueues(this.clients, this.prefix)).filter(
        (q) =>
          q.tags[QUEUE_TAGS.role] === 'dlq' &&
          (options.group === undefined || q.tags[QUEUE_TAGS.group] === options.group),
      )
      const perQueue = await Promise.all(
        dlqs.map(async (q) => {
          const held = await this.hold(q.url, limit)
          await this.release(q.url, held)
          let maxReceiveCount: number | undefined
          if (held.some((m) => m.MessageAttributes?.[DEAD_LETTER_ATTRIBUTES.kind] === undefined))
            maxReceiveCount = await this.maxReceiveCountOf(q.name)
          return held.map((m) => this.toDeadLetter(q.name, q.tags[QUEUE_TAGS.group] ?? '', m, maxReceiveCount))
        }),
      )
      return perQueue
        .flat()
        .sort((a, b) => a.failedAt.localeCompare(b.failedAt))
        .slice(0, limit)
    } catch (err) {
      throw transportError('listing dead letters', err)
    }
  }

  redrive(ids: readonly string[]): Promise<number> {
    return this.act(ids, 'redrive')
  }

  purge(ids: readonly string[]): Promise<number> {
    return this.act(ids, 'purge')
  }

  private async act(ids: readonly string[], action: 'redrive' | 'purge'): Promise<number> {
    let count = 0
    try {
      const queues = await this.ownQueues()
      for (const [dlqName, wanted] of groupIds(ids)) {
        // Only this namespace's own dead-letter queues, found by their tags: an id naming a live queue,
        // another namespace's queue or anything else is ignored, never received from.
        const dlq = queues.dlqs.get(dlqName)
        if (!dlq) continue
        const held = await this.hold(dlq.url, Number.POSITIVE_INFINITY, wanted)
        let chosen = held.filter((m) => wanted.has(required(m.MessageId, 'MessageId')))
        await this.release(
          dlq.url,
          held.filter((m) => !wanted.has(required(m.MessageId, 'MessageId'))),
        )
        if (chosen.length === 0) continue
        if (action === 'redrive') {
          const source = queues.sources.get(sourceOfDlq(dlqName))
          if (!source || source.tags[QUEUE_TAGS.group] !== dlq.tags[QUEUE_TAGS.group]) {
            await this.release(dlq.url, chosen)
            continue
          }
          // A body kept as base64 could never be decoded by a consumer (nor sent as it was): it stays, for purge.
          const kept = chosen.filter(
            (m) => m.MessageAttributes?.[DEAD_LETTER_ATTRIBUTES.bodyEncoding]?.StringValue === 'base64',
          )
          await this.release(dlq.url, kept)
          chosen = chosen.filter((m) => !kept.includes(m))
          // Sent to the group's own queue (not the topic): only the group that failed gets it again, as a new message (attempt 1).
          for (const m of chosen)
            await this.clients.sqs.send(new SendMessageCommand(this.redriveMessage(source.url, m)))
        }
        await this.deleteAll(dlq.url, chosen)
        count += chosen.length
      }
    } catch (err) {
      throw transportError(`${action} of dead letters`, err)
    }
    return count
  }

  /** This namespace's dead-letter queues and group queues by name, as tagged at provisioning. */
  private async ownQueues(): Promise<{ dlqs: Map<string, TaggedQueue>; sources: Map<string, TaggedQueue> }> {
    const tagged = await namespaceQueues(this.clients, this.prefix)
    const byRole = (role: string) =>
      new Map(tagged.filter((q) => q.tags[QUEUE_TAGS.role] === role).map((q) => [q.name, q]))
    return { dlqs: byRole('dlq'), sources: byRole('queue') }
  }

  private redriveMessage(queueUrl: string, m: Message) {
    const type = m.MessageAttributes?.[TYPE_ATTRIBUTE]?.StringValue
    return {
      QueueUrl: queueUrl,
      MessageBody: m.Body ?? '',
      ...(type ? { MessageAttributes: { [TYPE_ATTRIBUTE]: { DataType: 'String', StringValue: type } } } : {}),
      ...(this.fifo
        ? {
            MessageGroupId: m.Attributes?.MessageGroupId ?? fifoId(type ?? 'unknown'),
            MessageDeduplicationId: randomUUID(),
          }
        : {}),
    }
  }

  /** Receives up to `max` messages (stopping early once every wanted id is held) and keeps them hidden. */
  private async hold(url: string, max: number, wanted?: ReadonlySet<string>): Promise<Message[]> {
    const held: Message[] = []
    const seen = new Set<string>()
    let found = 0
    for (let first = true; held.length < max; first = false) {
      const out = await this.clients.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: Math.min(10, max - held.length),
          WaitTimeSeconds: first ? SCAN_WAIT_SECONDS : 0,
          VisibilityTimeout: HOLD_SECONDS,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['SentTimestamp', 'ApproximateReceiveCount', 'MessageGroupId'],
        }),
      )
      const messages = (out.Messages ?? []).filter((m) => !seen.has(required(m.MessageId, 'MessageId')))
      if (messages.length === 0) break
      for (const m of messages) {
        seen.add(required(m.MessageId, 'MessageId'))
        held.push(m)
        if (wanted?.has(required(m.MessageId, 'MessageId'))) found++
      }
      if (wanted && found >= wanted.size) break
    }
    return held
  }

  private async release(url: string, messages: readonly Message[]): Promise<void> {
    for (let i = 0; i < messages.length; i += 10) {
      const chunk = messages.slice(i, i + 10)
      await this.clients.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: url,
          Entries: chunk.map((m, k) => ({
            Id: String(k),
            ReceiptHandle: required(m.ReceiptHandle, 'ReceiptHandle'),
            VisibilityTimeout: 0,
          })),
        }),
      )
    }
  }

  private async deleteAll(url: string, messages: readonly Message[]): Promise<void> {
    for (let i = 0; i < messages.length; i += 10) {
      const chunk = messages.slice(i, i + 10)
      await this.clients.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: url,
          Entries: chunk.map((m, k) => ({ Id: String(k), ReceiptHandle: required(m.ReceiptHandle, 'ReceiptHandle') })),
        }),
      )
    }
  }

  private async urlOf(name: string): Promise<string | undefined> {
    try {
      return (await this.clients.sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl
    } catch {
      return undefined
    }
  }

  /** The source queue's maxReceiveCount: the attempts a natively redriven message had. */
  private async maxReceiveCountOf(dlqName: string): Promise<number | undefined> {
    const url = await this.urlOf(sourceOfDlq(dlqName))
    if (!url) return undefined
    const out = await this.clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['RedrivePolicy'] }),
    )
    const policy = out.Attributes?.RedrivePolicy
    return policy ? Number(JSON.parse(policy).maxReceiveCount) : undefined
  }

  private toDeadLetter(
    dlqName: string,
    taggedGroup: string,
    m: Message,
    maxReceiveCount: number | undefined,
  ): DeadLetter {
    const attrs = m.MessageAttributes ?? {}
    const text = (name: string) => attrs[name]?.StringValue
    const kind = text(DEAD_LETTER_ATTRIBUTES.kind)
    const reason: DeadLetterReason =
      kind !== undefined
        ? {
            kind: (KINDS.has(kind) ? kind : DEAD_LETTER_KINDS.handlerFailed) as DeadLetterKind,
            error: text(DEAD_LETTER_ATTRIBUTES.error) ?? '',
            attempts: Number(text(DEAD_LETTER_ATTRIBUTES.attempts) ?? 0),
          }
        : {
            kind: DEAD_LETTER_KINDS.handlerFailed,
            error: `moved here by the SQS RedrivePolicy after ${maxReceiveCount ?? 'maxReceiveCount'} receives without being settled: a consumer crashed, hung past its visibility timeout, or could not reach SQS`,
            attempts: maxReceiveCount ?? 0,
          }
    const body = m.Body ?? ''
    const base64 = text(DEAD_LETTER_ATTRIBUTES.bodyEncoding) === 'base64'
    const { envelope } = base64 ? { envelope: undefined } : tryDecodeEnvelope(body)
    const sent = Number(m.Attributes?.SentTimestamp)
    return {
      id: `${dlqName}/${m.MessageId}`,
      group: text(DEAD_LETTER_ATTRIBUTES.group) ?? taggedGroup,
      ...(envelope ? { envelope } : base64 ? { raw: body, rawEncoding: 'base64' as const } : { raw: body }),
      reason,
      failedAt:
        text(DEAD_LETTER_ATTRIBUTES.failedAt) ?? new Date(Number.isFinite(sent) ? sent : Date.now()).toISOString(),
    }
  }
}
