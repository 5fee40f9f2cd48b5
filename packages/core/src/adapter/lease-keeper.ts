import { unrefTimer } from './unref.js'
/**
 * Keeps the leases of long-running work alive (SQS visibility, NATS `working`, a row's lease): every
 * tracked item older than half a lease is renewed. One unref'd interval per keeper, running only while
 * something is tracked, so an idle or closed consumer leaves no timer behind.
 */
export class LeaseKeeper<T> {
  /** Tracked items with when their lease was last renewed. */
  private readonly renewedAt = new Map<T, number>()
  private timer: NodeJS.Timeout | undefined
  /** Coarse clock, advanced by the interval (no clock read per tracked item). */
  private clock = Date.now()

  constructor(
    private readonly leaseMs: number,
    /** Renews one item's lease; report failures inside (the keeper does not await it). */
    private readonly renew: (item: T) => void,
  ) {}

  /** Items tracked now. */
  get size(): number {
    return this.renewedAt.size
  }

  /** Starts renewing `item` (its lease was just taken). */
  track(item: T): void {
    if (!this.timer) this.start()
    this.renewedAt.set(item, this.clock)
  }

  /** Stops renewing `item`; the interval stops with the last one. */
  untrack(item: T): void {
    if (this.renewedAt.delete(item) && this.renewedAt.size === 0) this.stopTimer()
  }

  /** Forgets everything (their leases run out) and stops the interval. */
  stop(): void {
    this.renewedAt.clear()
    this.stopTimer()
  }

  private start(): void {
    this.clock = Date.now()
    this.timer = setInterval(
      () => {
        const now = Date.now()
        this.clock = now
        for (const [item, renewed] of this.renewedAt) {
          if (now - renewed < this.leaseMs / 2) continue
          this.renewedAt.set(item, now)
          this.renew(item)
        }
      },
      Math.max(5, Math.floor(this.leaseMs / 4)),
    )
    unrefTimer(this.timer)
  }

  private stopTimer(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }
}
