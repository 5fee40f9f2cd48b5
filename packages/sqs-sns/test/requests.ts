import type { SNSClient } from '@aws-sdk/client-sns'
import type { SQSClient } from '@aws-sdk/client-sqs'

/** Counts SDK calls by command name (the billing unit of SQS and SNS). */
export interface RequestCounter {
  readonly counts: Map<string, number>
  total(): number
  of(command: string): number
  reset(): void
}

/** Adds a middleware counting every command each client sends. */
export function countRequests(...clients: Array<SQSClient | SNSClient>): RequestCounter {
  const counts = new Map<string, number>()
  for (const client of clients) {
    ;(client as SQSClient).middlewareStack.add(
      (next, context) => async (args) => {
        const name = String(context.commandName)
        counts.set(name, (counts.get(name) ?? 0) + 1)
        return next(args)
      },
      { step: 'initialize', name: 'tierbusRequestCounter' },
    )
  }
  return {
    counts,
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
    of: (command) => counts.get(command) ?? 0,
    reset: () => counts.clear(),
  }
}
