/**
 * One fetched message's place in a subscription's in-flight budget. Freed exactly once: by its
 * delivery's first settle, or by the fetch loop when the `onBatch` it was handed to rejected.
 */
export class InFlightSlot {
  private held = true

  constructor(private readonly onFree: () => void) {}

  /** True until the slot is freed. */
  get isHeld(): boolean {
    return this.held
  }

  /** Frees the slot; false when it was freed already (a second settle, or a settle after a forfeit). */
  free(): boolean {
    if (!this.held) return false
    this.held = false
    this.onFree()
    return true
  }
}

/**
 * Counts deliveries handed out and not yet settled against `spec.maxInFlight`, and calls `onFree`
 * whenever a slot is given back (the loop's wake-up).
 */
export class InFlight {
  private count = 0
  /**
   * What every slot of this budget calls once freed: one function for all of them, not a closure per
   * fetched message (each slot's own `held` flag already makes its free happen once).
   */
  private readonly release: () => void

  constructor(
    readonly max: number,
    private readonly onFree: () => void = () => {},
  ) {
    this.release = () => {
      this.count--
      this.onFree()
    }
  }

  /** Slots held now. */
  get held(): number {
    return this.count
  }

  /** Slots free now (never negative). */
  get room(): number {
    return Math.max(0, this.max - this.count)
  }

  /** Takes one slot per fetched message. */
  take(n: number): InFlightSlot[] {
    const slots: InFlightSlot[] = []
    for (let i = 0; i < n; i++) slots.push(this.takeOne())
    return slots
  }

  /** Takes one slot (a message that arrived by push). */
  takeOne(): InFlightSlot {
    this.count++
    return new InFlightSlot(this.release)
  }
}
