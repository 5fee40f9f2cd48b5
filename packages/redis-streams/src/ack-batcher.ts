import { AckCoalescer, type AckGroup } from '@tierbus/core/adapter'
import type { RedisStreamClient } from './client.js'
import { xack } from './commands.js'

/** One pending entry to XACK. */
export interface StreamAck {
  readonly stream: string
  readonly group: string
  readonly id: string
}

/**
 * Coalesces XACKs with core's ack coalescer: acks made while the previous flush is in flight are sent
 * together, one XACK per (stream, group) in one pipeline.
 */
export function streamAckCoalescer(client: RedisStreamClient): AckCoalescer<StreamAck> {
  return new AckCoalescer<StreamAck>({
    // One XACK per group: it succeeds or fails as a whole.
    sharedResults: true,
    send: async (groups: ReadonlyArray<AckGroup<StreamAck>>) => {
      const commands = groups.map(({ items }) => {
        // A group holds the acks of one (stream, consumer group) key: at least one, all alike.
        const [first] = items
        if (!first) throw new Error('internal: an empty ack group (a tierbus bug)')
        return xack(
          first.stream,
          first.group,
          items.map((a) => a.id),
        )
      })
      // One (stream, group), the usual case, is one plain command: an ioredis pipeline is a large object
      // per flush (its promise, queues and a copy of the client's command table), and profiled at 1,000
      // events/s the pipelines were most of what survived young-generation GCs.
      const [only] = commands
      if (only && commands.length === 1) {
        try {
          await client.send(only)
          return [undefined]
        } catch (error) {
          return [{ error }]
        }
      }
      const replies = await client.pipeline(commands)
      return replies.map((reply) => (reply instanceof Error ? { error: reply } : undefined))
    },
  })
}

/** The key acks of one (stream, group) are coalesced under. */
export function streamAckKey(ack: StreamAck): string {
  return `${ack.stream}\u0000${ack.group}`
}
