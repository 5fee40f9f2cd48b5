import { TransportError } from '@tierbus/core'

/** The AWS error name (`QueueDoesNotExist`, `InvalidParameterException`, ...), or '' for non-AWS errors. */
export function awsErrorName(err: unknown): string {
  const e = err as { name?: unknown; Code?: unknown } | undefined
  return typeof e?.name === 'string' ? e.name : typeof e?.Code === 'string' ? e.Code : ''
}

/** True for "this queue does not exist" in any of its spellings (JSON protocol, query protocol, emulators). */
export function isMissingQueue(err: unknown): boolean {
  const name = awsErrorName(err)
  return name.includes('QueueDoesNotExist') || name.includes('NonExistentQueue')
}

/** True for "a queue with this name exists with other attributes". */
export function isQueueNameTaken(err: unknown): boolean {
  const name = awsErrorName(err)
  return name.includes('QueueNameExists') || name.includes('QueueAlreadyExists')
}

/** Client-side faults (bad request, access denied) will not heal by retrying; network and throttling will. */
function retryable(err: unknown): boolean {
  const meta = err as { $metadata?: { httpStatusCode?: number }; $fault?: string } | undefined
  if (meta?.$fault === 'client') return awsErrorName(err).includes('Throttl')
  return true
}

/** Wraps an SDK failure in a TransportError saying what tierbus was doing and what to check. */
export function transportError(action: string, err: unknown): TransportError {
  if (err instanceof TransportError) return err
  const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  return new TransportError(
    `SQS/SNS ${action} failed (${detail}); check the endpoint, region, credentials and that the resources exist (provision: true or describeInfrastructure())`,
    { cause: err, retryable: retryable(err) },
  )
}

/**
 * A response field the AWS API documents as always present (QueueUrl, TopicArn, MessageId, ReceiptHandle):
 * the SDK types it optional, so a missing one is a broken endpoint or emulator, reported as such.
 */
export function required<T>(value: T | undefined, field: string): T {
  if (value === undefined)
    throw new TransportError(`SQS/SNS response has no ${field}; check that the endpoint speaks the AWS API`, {
      retryable: false,
    })
  return value
}
