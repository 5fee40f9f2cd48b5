import type { Delivery } from '@tierbus/core'

/**
 * Hands queued deliveries to `onBatch` one call at a time (the SPI forbids concurrent calls): what
 * arrives while a call runs is handed over, as one batch, when it returns. Stopping hands out nothing more.
 */
export class BatchPump<D extends Delivery = Delivery> {
  private queue: D[] = []
  private running: Promise<void> | undefined
  private stopped = false

  constructor(
    private readonly onBatch: (batch: Delivery[]) => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Queues a delivery and starts handing out if idle. */
  push(delivery: D): void {
    this.queue.push(delivery)
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
    return left
  }

  private async run(): Promise<void> {
    // Let the rest of a burst that arrived in the same tick join the first batch.
    await Promise.resolve()
    while (this.queue.length > 0 && !this.stopped) {
      const batch = this.queue
      this.queue = []
      try {
        await this.onBatch(batch)
      } catch (err) {
        this.onError(err)
      }
    }
    this.running = undefined
  }
}
