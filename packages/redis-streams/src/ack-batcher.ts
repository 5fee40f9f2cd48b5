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
    send: async (groups: ReadonlyArray<AckGroup<StreamAck>>) => {
      const replies = await client.pipeline(groups.map(({ items }) => xack(items[0]!.stream, items[0]!.group, items.map((a) => a.id))))
      return replies.map((reply) => (reply instanceof Error ? { error: reply } : undefined))
    },
  })
}

/** The key acks of one (stream, group) are coalesced under. */
export function streamAckKey(ack: StreamAck): string {
  return `${ack.stream}\u0000${ack.group}`
}
