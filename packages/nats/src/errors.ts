import { ConfigError, TransportError } from '@tierbus/core'

/** JetStream API error code: a stream's subjects overlap another stream's. */
export const ERR_SUBJECTS_OVERLAP = 10065
/** JetStream API error code: a stream exists under this name with a different configuration. */
export const ERR_STREAM_NAME_IN_USE = 10058
/** JetStream API error code: stream not found. */
export const ERR_STREAM_NOT_FOUND = 10059
/** JetStream API error code: consumer not found. */
export const ERR_CONSUMER_NOT_FOUND = 10014
/** JetStream API error code: message not found (deleted or never stored). */
export const ERR_NO_MESSAGE = 10037

/** JetStream API error code: a compare-and-set publish (KV update) found another last sequence. */
export const ERR_WRONG_LAST_SEQUENCE = 10071

/** JetStream API error code: a sequence past the end of the stream store. */
export const ERR_STORE_EOF = 10057

/** True when a message lookup/delete failed because the message does not exist (any more). */
export function isMessageGone(err: unknown): boolean {
  const code = jetStreamCode(err)
  return code === ERR_NO_MESSAGE || code === ERR_STORE_EOF
}

/** The NATS server has JetStream disabled (or the account has no JetStream): nothing can be stored. */
export class JetStreamNotEnabledError extends ConfigError {
  constructor(servers: string, options?: { cause?: unknown }) {
    super(
      `JetStream is not enabled on the NATS server at ${servers}: start nats-server with -js (or 'jetstream {}' in its config), or enable JetStream for this account; tierbus stores events in JetStream streams`,
      options,
    )
  }
}

/** A stream tierbus wants to create would hold subjects another stream already holds. */
export class StreamSubjectsOverlapError extends ConfigError {
  /** The stream tierbus tried to create. */
  readonly stream: string
  /** The existing stream that already holds some of the subjects, when the server could name it. */
  readonly existing: string | undefined

  constructor(
    stream: string,
    subjects: readonly string[],
    existing: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      `JetStream stream ${stream} (subjects ${subjects.join(', ')}) overlaps ${existing ? `the existing stream ${existing}` : 'an existing stream'}: a subject can belong to one stream only. Use another prefix (TIERBUS_NATS_PREFIX), narrow the stream families' types, or delete/adjust ${existing ?? 'the other stream'} (nats stream info ${existing ?? '<name>'})`,
      options,
    )
    this.stream = stream
    this.existing = existing
  }
}

/** The JetStream `err_code` of a NATS API error, if it is one. */
export function jetStreamCode(err: unknown): number | undefined {
  const api = (err as { api_error?: { err_code?: number } } | undefined)?.api_error
  return api?.err_code
}

/** True for "no responders" / 503: nobody (no JetStream, no stream) answered the request. */
export function isNoResponders(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code
  return code === '503' || code === 503
}

/** Wraps a failed NATS call in a TransportError that says what failed; ConfigErrors pass through. */
export function transportError(what: string, err: unknown, retryable = true): Error {
  if (err instanceof ConfigError || err instanceof TransportError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new TransportError(`NATS ${what} failed: ${message}`, { cause: err, retryable })
}
