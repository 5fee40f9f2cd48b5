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
  const middleware =
    <I, O>(next: (args: I) => Promise<O>) =>
    async (args: I): Promise<O> => {
      try {
        const result = await next(args)
        state.up()
        return result
      } catch (err) {
        if (isNetworkError(err)) state.down(err)
        else state.up()
        throw err
      }
    }
  clients.sqs.middlewareStack.add(middleware as never, { step: 'initialize', name })
  clients.sns.middlewareStack.add(middleware as never, { step: 'initialize', name })
  return () => {
    clients.sqs.middlewareStack.remove(name)
    clients.sns.middlewareStack.remove(name)
  }
}
