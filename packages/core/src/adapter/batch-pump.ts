import type { Delivery } from '../transport.js'
import { handOff } from './hand-off.js'
import type { InFlightSlot } from './in-flight.js'

/**
 * The hand-off of a push-based tier (messages arrive by callback, e.g. NATS): queues deliveries and
 * hands them to `onBatch` one call at a time (the SPI forbids concurrent calls); what arrives while a
 * call runs goes over, as one batch, when it returns. A rejected call frees the slots of the
 * deliveries it did not settle (see `handOff`). Stopping hands out nothing more.
 */
export class BatchPump<D extends Delivery = Delivery> {
  private queue: D[] = []
  private slots: InFlightSlot[] = []
  private running: Promise<void> | undefined
  private stopped = false

  constructor(
    private readonly onBatch: (batch: Delivery[]) => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Queues a delivery (with its in-flight slot, if the tier counts them) and starts handing out if idle. */
  push(delivery: D, slot?: InFlightSlot): void {
    this.queue.push(delivery)
    if (slot) this.slots.push(slot)
    this.running ??= this.run()
  }

  /** Resolves when nothing is being handed out (the last `onBatch` returned). */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve()
  }

  /** Stops handing out; returns the deliveries still queued (never handed to `onBatch`). */
  stop(): D[] {
    this.stopped = true
    const left = this.queue
    this.queue = []
    this.slots = []
    return left
  }

  private async run(): Promise<void> {
    // Let the rest of a burst that arrived in the same tick join the first batch.
    await Promise.resolve()
    while (this.queue.length > 0 && !this.stopped) {
      const batch = this.queue
      const slots = this.slots
      this.queue = []
      this.slots = []
      await handOff(this.onBatch, batch, slots, this.onError)
    }
    this.running = undefined
  }
}
