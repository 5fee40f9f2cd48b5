import { randomUUID } from 'node:crypto'
import { type ConnectionState, isNetworkError } from '@tierbus/core/adapter'
import type { SqsClients } from './options.js'

/**
 * Reports the reachability of SQS and SNS to `state` from every SDK call of the transport's clients
 * (HTTP holds no connection to watch): a call that got an answer, even an error reply, means `up`;
 * one that could not reach the endpoint (after the SDK's own retries) means `down`. Returns the
 * function that removes the watch (the clients may be the app's own).
 */
export function watchConnection(clients: SqsClients, state: ConnectionState): () => void {
  const name = `tierbusConnectionState-${randomUUID()}`
  // Reactions on the call's promise rather than an async function: this wraps every SDK call, receives and deletes included.
  const answered = <O>(result: O): O => {
    state.up()
    return result
  }
  const failed = (err: unknown): never => {
    if (isNetworkError(err)) state.down(err)
    else state.up()
    throw err
  }
  const middleware =
    <I, O>(next: (args: I) => Promise<O>) =>
    (args: I): Promise<O> =>
      next(args).then(answered, failed)
  clients.sqs.middlewareStack.add(middleware as never, { step: 'initialize', name })
  clients.sns.middlewareStack.add(middleware as never, { step: 'initialize', name })
  return () => {
    clients.sqs.middlewareStack.remove(name)
    clients.sns.middlewareStack.remove(name)
  }
}
