import { createHash } from 'node:crypto'
import { ConfigError } from '@tierbus/core'

/** Namespace prefixes: short, so every derived queue name fits SQS's 80-character limit. */
const PREFIX = /^[A-Za-z0-9_-]{1,40}$/

/** SQS queue names: at most 80 characters including `-dlq` and `.fifo`. */
const QUEUE_NAME_LIMIT = 80
const DLQ_SUFFIX = '-dlq'
const FIFO_SUFFIX = '.fifo'
const HASH_LENGTH = 10

/** Throws a ConfigError unless `prefix` can start SNS topic and SQS queue names. */
export function assertPrefix(prefix: string): void {
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw new ConfigError(
      `invalid SQS/SNS namespace prefix ${JSON.stringify(prefix)}: use 1-40 letters, digits, '_' or '-' (option prefix / TIERBUS_SQS_PREFIX), e.g. "tierbus" or "signalsloop-prod"`,
    )
  }
}

/** The namespace's one SNS topic, carrying every event type. */
export function topicName(prefix: string, fifo: boolean): string {
  assertPrefix(prefix)
  return `${prefix}-events${fifo ? FIFO_SUFFIX : ''}`
}

/** Names of the SQS queue of one (group, pattern) subscription and of its dead-letter queue. */
export interface QueueNames {
  readonly queue: string
  readonly dlq: string
}

/** Readable, SQS-safe rendering of a group or pattern (uniqueness comes from the hash). */
function slug(text: string): string {
  return text
    .replace(/\*/g, 'any')
    .replace(/>/g, 'all')
    .replace(/[^A-Za-z0-9_-]/g, '_')
}

/**
 * Deterministic queue names for one (group, pattern): `<prefix>-<group>--<pattern>-<hash>`,
 * truncated to fit, with a hash of the exact (group, pattern) so distinct subscriptions never share a queue.
 */
export function queueNames(prefix: string, group: string, pattern: string, fifo: boolean): QueueNames {
  assertPrefix(prefix)
  const hash = createHash('sha256').update(`${group}\u0000${pattern}`).digest('hex').slice(0, HASH_LENGTH)
  const room = QUEUE_NAME_LIMIT - DLQ_SUFFIX.length - FIFO_SUFFIX.length - prefix.length - HASH_LENGTH - 2
  const readable = slug(`${group}--${pattern}`).slice(0, room)
  const base = `${prefix}-${readable}-${hash}`
  const end = fifo ? FIFO_SUFFIX : ''
  return { queue: `${base}${end}`, dlq: `${base}${DLQ_SUFFIX}${end}` }
}

/** The source queue of a dead-letter queue named by `queueNames`. */
export function sourceOfDlq(dlqName: string): string {
  const fifo = dlqName.endsWith(FIFO_SUFFIX)
  const base = fifo ? dlqName.slice(0, -FIFO_SUFFIX.length) : dlqName
  if (!base.endsWith(DLQ_SUFFIX))
    throw new ConfigError(`${dlqName} is not a tierbus dead-letter queue name (expected the suffix ${DLQ_SUFFIX})`)
  return `${base.slice(0, -DLQ_SUFFIX.length)}${fifo ? FIFO_SUFFIX : ''}`
}

/** True when `name` is a tierbus dead-letter queue name. */
export function isDlqName(name: string): boolean {
  return name.endsWith(DLQ_SUFFIX) || name.endsWith(`${DLQ_SUFFIX}${FIFO_SUFFIX}`)
}

/** The queue name at the end of a queue URL. */
export function queueNameOfUrl(url: string): string {
  return url.slice(url.lastIndexOf('/') + 1)
}

/**
 * FIFO `MessageGroupId` / `MessageDeduplicationId` values are at most 128 characters; longer keys
 * are replaced by their SHA-256 (same key, same id, so ordering and dedup still hold).
 */
export function fifoId(value: string): string {
  return value.length <= 128 && /^[\x21-\x7e]+$/.test(value) ? value : createHash('sha256').update(value).digest('hex')
}
