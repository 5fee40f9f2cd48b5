import type { Delivery } from '../transport.js'
import type { InFlightSlot } from './in-flight.js'

/**
 * Hands one batch to core's `onBatch` and waits for it. When `onBatch` rejects (a custom consumer
 * threw, or a wrapper such as the migrator's dedup check failed), the deliveries it did not settle
 * give their slots back — they stay settleable, and come back after their lease if nobody settles
 * them — so a rejection never shrinks the in-flight budget for good. Returns false on a rejection.
 */
export async function handOff(
  onBatch: (batch: Delivery[]) => Promise<void>,
  batch: Delivery[],
  slots: readonly InFlightSlot[],
  onError: (err: unknown) => void,
): Promise<boolean> {
  try {
    await onBatch(batch)
    return true
  } catch (err) {
    for (const slot of slots) slot.free()
    onError(err)
    return false
  }
}
