import { ConfigError, TransportError } from '@tierbus/core'

/** The broker refused a published message (`basic.nack` under publisher confirms): it was not stored. */
export class PublishNackedError extends TransportError {
  constructor(what: string, options?: { cause?: unknown }) {
    super(`RabbitMQ did not confirm ${what} (basic.nack): the broker could not store it (a full or unavailable queue); publish again`, { ...options, retryable: true })
  }
}

/**
 * A message sent to one named queue (a retry, a dead letter, a delayed event) came back unroutable
 * (`basic.return`): the queue is gone. Not retryable as is: the topology must be declared again.
 */
export class UnroutableError extends TransportError {
  constructor(what: string, options?: { cause?: unknown }) {
    super(`RabbitMQ returned ${what} as unroutable: its queue does not exist (was it deleted by hand?); the transport declares its queues on start and after a reconnect, so restart it`, { ...options, retryable: false })
  }
}

/** Wraps a failed amqplib call in a TransportError that says what failed; tierbus errors pass through. */
export function transportError(what: string, err: unknown, retryable = true): Error {
  if (err instanceof ConfigError || err instanceof TransportError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new TransportError(`AMQP ${what} failed: ${message}`, { cause: err, retryable })
}

/** The reply code of a channel or connection closed by the broker (404 NOT_FOUND, 406 PRECONDITION_FAILED ...). */
export function replyCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code
  return typeof code === 'number' ? code : undefined
}
