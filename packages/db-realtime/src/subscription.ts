import type { Delivery, SubscriptionSpec } from '@tierbus/core'
import type { AckBuffer } from './ack-buffer.js'
import { DbDelivery } from './delivery.js'
import type { DbDriver } from './driver.js'
import type { DbFunction, DbRow } from './statements.js'

/** What a subscription needs from its transport. */
export interface SubscriptionHost {
  readonly driver: DbDriver
  readonly acks: AckBuffer
  readonly pollIntervalMs: number
  readonly scanLimit: number
  reportError(err: unknown): void
}

/** First re-claim delay after a 'soon' hint (events beyond the visibility horizon); doubles up to the poll interval. */
const SOON_MS = 2
/**
 * Cap of the 'soon' backoff. The hint only comes while events are pending behind the visibility
 * horizon (an older transaction still running), so polling every 25 ms at most then keeps push latency
 * low without spinning; with nothing pending the loop sleeps until NOTIFY or the poll interval.
 */
const SOON_MAX_MS = 25

/**
 * One member of a consumer group: a single claim loop that sleeps until a push hint, a settle that
 * frees room, the next due row (delay, retry, lease expiry) or the polling interval, whichever comes
 * first. One timer per subscription, never one per event.
 */
export class DbSubscription {
  private unsettled = 0
  private closed = false
  private woken = false
  private wakeUp: (() => void) | undefined
  private claiming: Promise<unknown> | undefined
  private readonly loop: Promise<void>

  constructor(
    readonly transport: SubscriptionHost,
    readonly groupId: number,
    readonly spec: SubscriptionSpec,
    readonly matches: (type: string) => boolean,
    private readonly onBatch: (batch: Delivery[]) => Promise<void>,
  ) {
    this.loop = this.run()
  }

  /** A push hint or a freed slot: claim again now. */
  wake(): void {
    this.woken = true
    const w = this.wakeUp
    this.wakeUp = undefined
    w?.()
  }

  /** Called by a delivery when it starts settling: frees a slot. */
  settled(): void {
    this.unsettled--
    if (this.unsettled === this.spec.maxInFlight - 1) this.wake()
  }

  /** Called once a settle is stored: in ordered groups the next event of that key may now be claimable. */
  stored(hadKey: boolean): void {
    if (this.spec.ordered && hadKey) this.wake()
  }

  /** Calls a tierbus function through the transport's driver. */
  call(fn: DbFunction, args: readonly unknown[]): Promise<DbRow[]> {
    return this.transport.driver.call(fn, args)
  }

  /** Stops intake: waits for a claim in progress (giving its rows back), not for handlers. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.wake()
    await this.claiming?.catch(() => {})
    // The loop may still be inside onBatch (a consumer waiting for room); it exits when that returns.
    void this.loop
  }

  private async run(): Promise<void> {
    const { pollIntervalMs, scanLimit } = this.transport
    let soon = SOON_MS
    let failures = 0
    while (!this.closed) {
      const room = this.spec.maxInFlight - this.unsettled
      if (room <= 0) {
        await this.sleep(pollIntervalMs)
        continue
      }
      this.woken = false
      let rows: DbRow[]
      try {
        const claim = this.call('claim', [this.groupId, room, this.spec.leaseMs, this.spec.ordered, scanLimit])
        this.claiming = claim
        rows = await claim
        failures = 0
      } catch (err) {
        this.claiming = undefined
        if (this.closed) return
        failures++
        if (failures === 1 || failures % 20 === 0) this.transport.reportError(err)
        await this.sleep(Math.min(pollIntervalMs, 100 * 2 ** Math.min(failures, 6)))
        continue
      }
      const taken = rows.filter((r) => r.seq !== null && r.seq !== undefined)
      if (taken.length > 0) {
        if (this.closed) {
          await this.giveBack(taken)
          this.claiming = undefined
          return
        }
        this.claiming = undefined
        const batch = taken.map((r) => new DbDelivery(this, Number(r.seq), Number(r.attempt), String(r.envelope)))
        this.unsettled += batch.length
        soon = SOON_MS
        try {
          await this.onBatch(batch)
        } catch (err) {
          this.transport.reportError(err)
        }
        continue
      }
      this.claiming = undefined
      const meta = rows[0] ?? {}
      if (this.woken || meta.hint === 'more') continue
      let wait = pollIntervalMs
      if (meta.hint === 'soon') {
        wait = soon
        soon = Math.min(soon * 2, SOON_MAX_MS, pollIntervalMs)
      } else soon = SOON_MS
      if (meta.next_in_ms !== null && meta.next_in_ms !== undefined) wait = Math.min(wait, Number(meta.next_in_ms) + 1)
      await this.sleep(wait)
    }
  }

  /** Rows claimed after close: back to the group at once, without spending an attempt. */
  private async giveBack(rows: DbRow[]): Promise<void> {
    try {
      await this.call('release', [this.groupId, rows.map((r) => Number(r.seq)), rows.map((r) => Number(r.attempt))])
    } catch (err) {
      this.transport.reportError(err)
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken || this.closed) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined
        resolve()
      }, ms)
      this.wakeUp = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }
}
