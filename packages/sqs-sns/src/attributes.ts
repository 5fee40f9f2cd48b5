/** SNS/SQS message attribute carrying the event type; subscription filter policies match on it. */
export const TYPE_ATTRIBUTE = 'type'

/** Message attributes tierbus writes on a dead-lettered message, recording why it failed. */
export const DEAD_LETTER_ATTRIBUTES = Object.freeze({
  kind: 'tierbus.reason.kind',
  error: 'tierbus.reason.error',
  attempts: 'tierbus.reason.attempts',
  group: 'tierbus.group',
  failedAt: 'tierbus.failed-at',
  /** `base64` when the body is stored base64-encoded (it holds characters SQS does not accept on send). */
  bodyEncoding: 'tierbus.body-encoding',
} as const)

/** A character SQS refuses in a message body (it accepts #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF). */
const NOT_SQS_TEXT = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u

/**
 * A body as SQS will take it on send: as is, or (when it holds characters SQS refuses, which another
 * producer or SNS may have let through) the base64 of its UTF-8 bytes, flagged by `bodyEncoding`.
 */
export function sendableBody(body: string): { body: string; base64: boolean } {
  if (!NOT_SQS_TEXT.test(body)) return { body, base64: false }
  return { body: Buffer.from(body, 'utf8').toString('base64'), base64: true }
}

/** Tags on every queue tierbus creates, so tools can find a namespace's queues and their group. */
export const QUEUE_TAGS = Object.freeze({
  namespace: 'tierbus:namespace',
  group: 'tierbus:group',
  role: 'tierbus:role',
} as const)

/** Longest error text kept in a dead letter's reason attribute (the message must stay under the SQS limit). */
export const MAX_REASON_ERROR_CHARS = 2_000

/**
 * SNS limit: 256 KiB per published message (body plus message attributes) and per PublishBatch request.
 * SQS itself accepts 1 MiB since August 2025, but every event enters through SNS Publish, whose limit is
 * still 256 KiB; bigger events go through claim-check (`s3PayloadStore`).
 */
export const SNS_MESSAGE_LIMIT_BYTES = 262_144

/** Bytes of every message kept for its `type` attribute (name + data type + up to 200 characters of type). */
export const TYPE_ATTRIBUTE_RESERVE_BYTES = 256

/** Size of one String message attribute as AWS counts it: name + data type + value, UTF-8. */
export function attributeBytes(name: string, value: string, dataType = 'String'): number {
  return Buffer.byteLength(name) + dataType.length + Buffer.byteLength(value)
}
