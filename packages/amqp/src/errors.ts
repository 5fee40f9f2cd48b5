import { ConfigError, TransportError } from '@tierbus/core'

/** The broker refused a published message (`basic.nack` under publisher confirms): it was not stored. */
export class PublishNackedError extends TransportError {
  constructor(what: string, options?: { cause?: unknown }) {
    super(
      `RabbitMQ did not confirm ${what} (basic.nack): the broker could not store it ` +
        '(a full or unavailable queue); publish again',
      { ...options, retryable: true },
    )
  }
}

/**
 * A message sent to one named queue (a retry, a dead letter, a delayed event) came back unroutable
 * (`basic.return`): the queue is gone. A TTL queue is declared again on its next use; a group queue when
 * the group subscribes again.
 */
export class UnroutableError extends TransportError {
  constructor(what: string, options?: { cause?: unknown }) {
    super(
      `RabbitMQ returned ${what} as unroutable: its queue does not exist (deleted by hand?). tierbus declares ` +
        'group queues when it subscribes and TTL queues again on their next use',
      { ...options, retryable: true },
    )
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
