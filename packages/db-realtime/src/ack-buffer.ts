import { AckCoalescer, type AckGroupResult } from '@tierbus/core/adapter'
import type { DbDriver } from './driver.js'

/** One claimed row to ack, guarded by its attempt. */
export interface RowAck {
  readonly group: number
  readonly seq: number
  readonly attempt: number
}

/**
 * Acks coalesced by core's ack coalescer into one `ack` call per group: while one round is in flight
 * the next acks queue up and go together, so an idle consumer acks at once and a busy one in batches.
 */
export function rowAckCoalescer(driver: DbDriver): AckCoalescer<RowAck> {
  return new AckCoalescer<RowAck>({
    // One ack call per group: it succeeds or fails as a whole.
    sharedResults: true,
    send: (groups) =>
      Promise.all(
        groups.map(async ({ items }): Promise<AckGroupResult> => {
          try {
            // A group holds the acks of one consumer group: at least one.
            const [first] = items
            if (!first) throw new Error('internal: an empty ack group (a tierbus bug)')
            await driver.call('ack', [first.group, items.map((a) => a.seq), items.map((a) => a.attempt)])
            return undefined
          } catch (error) {
            return { error }
          }
        }),
      ),
  })
}
