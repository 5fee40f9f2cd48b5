/**
 * A sleep that another part of the adapter can cut short: a settle that frees a slot, a push hint,
 * `close()`. A wake that comes while nobody sleeps is remembered, so the next `sleep` returns at once
 * (no lost wake-ups between "checked for work" and "went to sleep").
 */
export class WakeableSleep {
  private wakeRequested = false
  private endSleep: (() => void) | undefined

  /** True while a `sleep` is pending. */
  get sleeping(): boolean {
    return this.endSleep !== undefined
  }

  /**
   * Sleeps `ms` on a real timer (never a resolved promise, so the event loop always turns), or until
   * `wake()` (only that, for `Infinity`). Returns true when woken, false when the time ran out. A remembered wake returns at once.
   */
  sleep(ms: number): Promise<boolean> {
    if (this.takeWake()) return Promise.resolve(true)
    return new Promise((resolve) => {
      // Infinity: until woken (setTimeout would fire at once).
      const timer = Number.isFinite(ms)
        ? setTimeout(
            () => {
              this.endSleep = undefined
              resolve(false)
            },
            Math.max(0, ms),
          )
        : undefined
      this.endSleep = () => {
        clearTimeout(timer)
        resolve(true)
      }
    })
  }

  /** Ends the pending sleep now, or makes the next one return at once. */
  wake(): void {
    const end = this.endSleep
    this.endSleep = undefined
    if (end) end()
    else this.wakeRequested = true
  }

  /** True (and forgotten) when a wake came since the last sleep or check. */
  takeWake(): boolean {
    const requested = this.wakeRequested
    this.wakeRequested = false
    return requested
  }
}
