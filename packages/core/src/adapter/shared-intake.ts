import type { Delivery } from '../transport.js'

/**
 * One subscriber fed by several tier loops (a migration in cutover consumes the source and the target,
 * a routed pattern every tier it spans). Each loop calls `deliver`; the intake hands their batches to
 * `onBatch` one at a time and keeps the deliveries handed out and not yet settled at or under `maxInFlight` across all
 * loops, as the Transport SPI promises for one subscription. A delivery counts until it is settled or
 * its lease runs out (the tier hands it out again by then, so it must not hold a slot for ever).
 */
export class SharedIntake {
  /** Handed-out deliveries and when their lease runs out (ms since epoch). */
  private readonly handedOut = new Map<Delivery, number>()
  private turn: Promise<void> = Promise.resolve()
  private wake: (() => void) | undefined
  private closed = false

  constructor(
    private readonly maxInFlight: number,
    private readonly leaseMs: number,
    private readonly onBatch: (batch: Delivery[]) => Promise<void>,
  ) {}

  /** A tier loop's `onBatch`: resolves once the whole batch was handed over (or the intake closed). */
  readonly deliver = (batch: Delivery[]): Promise<void> => {
    const handOver = this.turn.then(() => this.handOver(batch))
    this.turn = handOver.catch(() => {})
    return handOver
  }

  /** Stops handing over: what is still waiting stays unsettled, so its tier hands it out again after the lease. */
  close(): void {
    this.closed = true
    this.wake?.()
  }

  private async handOver(batch: Delivery[]): Promise<void> {
    let rest = batch
    while (rest.length > 0 && !this.closed) {
      const room = this.maxInFlight - this.countHandedOut()
      if (room <= 0) {
        await this.roomOrExpiry()
        continue
      }
      const now = rest.slice(0, room)
      rest = rest.slice(room)
      await this.onBatch(now.map((d) => this.counted(d)))
    }
  }

  /** Deliveries still holding a slot; drops those whose lease ran out. */
  private countHandedOut(): number {
    const now = Date.now()
    for (const [d, expiresAt] of this.handedOut) if (expiresAt <= now) this.handedOut.delete(d)
    return this.handedOut.size
  }

  /** Waits until a delivery is settled or the earliest lease runs out. */
  private roomOrExpiry(): Promise<void> {
    const earliest = Math.min(...this.handedOut.values())
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.max(1, earliest - Date.now()))
      function done() {
        clearTimeout(timer)
        resolve()
      }
      this.wake = () => {
        this.wake = undefined
        done()
      }
    })
  }

  /** The delivery as handed to the subscriber: its first settle frees the slot. */
  private counted(d: Delivery): Delivery {
    const slot: Delivery = {
      envelope: d.envelope,
      attempt: d.attempt,
      ...(d.malformed ? { malformed: d.malformed } : {}),
      ack: () => this.settle(slot, () => d.ack()),
      retry: (delayMs) => this.settle(slot, () => d.retry(delayMs)),
      deadLetter: (reason) => this.settle(slot, () => d.deadLetter(reason)),
      ...(d.touch
        ? {
            touch: async () => {
              await d.touch!()
              if (this.handedOut.has(slot)) this.handedOut.set(slot, Date.now() + this.leaseMs)
            },
          }
        : {}),
    }
    this.handedOut.set(slot, Date.now() + this.leaseMs)
    return slot
  }

  private async settle(slot: Delivery, settle: () => Promise<void>): Promise<void> {
    try {
      await settle()
    } finally {
      if (this.handedOut.delete(slot)) this.wake?.()
    }
  }
}
