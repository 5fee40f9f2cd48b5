import type { Delivery, SubscriptionSpec, TransportErrorContext } from '@tierbus/core'
import { type AckCoalescer, FetchLoop } from '@tierbus/core/adapter'
import type { RowAck } from './ack-buffer.js'
import { DbDelivery } from './delivery.js'
import type { DbDriver } from './driver.js'
import type { DbFunction, DbRow } from './statements.js'

/** What a subscription needs from its transport. */
export interface SubscriptionHost {
  readonly driver: DbDriver
  readonly acks: AckCoalescer<RowAck>
  readonly pollIntervalMs: number
  readonly scanLimit: number
  /** True once the transport is closed (settles are then no-ops). */
  readonly isClosed: boolean
  reportError(err: unknown, context: TransportErrorContext): void
}

/** First re-claim delay after a 'soon' hint (another member is copying the group's older events); doubles up to the poll interval. */
const SOON_MS = 2
/**
 * Cap of the 'soon' backoff. The hint only comes while another member copies a new group's older events
 * (backfill), so polling every 25 ms at most then picks them up soon without spinning; with nothing
 * pending the loop sleeps until NOTIFY or the poll interval.
 */
const SOON_MAX_MS = 25
/** First pause after a failed claim; doubles up to the poll interval. */
const CLAIM_RETRY_MS = 200

/**
 * One member of a consumer group: core's fetch loop around the `claim` function. It sleeps until a
 * push hint, a settle that frees room, the next due row (delay, retry, lease expiry) or the polling
 * interval, whichever comes first. One timer per subscription, never one per event.
 */
export class DbSubscription {
  private readonly loop: FetchLoop<DbRow>
  /** What the last empty claim said about when to look again. */
  private idleHint: DbRow = {}
  private soon = SOON_MS

  constructor(
    readonly transport: SubscriptionHost,
    readonly groupId: number,
    readonly spec: SubscriptionSpec,
    readonly matches: (type: string) => boolean,
    onBatch: (batch: Delivery[]) => Promise<void>,
  ) {
    this.loop = new FetchLoop<DbRow>({
      maxInFlight: spec.maxInFlight,
      fetch: (room) => this.claim(room),
      toDeliveries: (rows, slots) =>
        rows.map((r, i) => {
          const slot = slots[i]
          if (!slot) throw new Error('internal: FetchLoop gave fewer in-flight slots than rows (a tierbus bug)')
          return new DbDelivery(this, slot, Number(r.seq), Number(r.attempt), String(r.envelope))
        }),
      onBatch,
      // A database that is down fails every claim: report the first failure and every 20th.
      onError: (err, failures) => {
        if (failures <= 1 || failures % 20 === 0) transport.reportError(err, { operation: 'claim', group: spec.group })
      },
      handBack: (rows) => this.giveBack(rows),
      idleMs: () => this.idleMs(),
      fullMs: () => transport.pollIntervalMs,
      backoff: { initialMs: CLAIM_RETRY_MS, maxMs: transport.pollIntervalMs },
    })
    this.loop.start()
  }

  /** A push hint or a freed slot: claim again now. */
  wake(): void {
    this.loop.wake()
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
  close(): Promise<void> {
    return this.loop.close()
  }

  /** Claims up to `room` rows; an empty claim keeps its hint for `idleMs`. */
  private async claim(room: number): Promise<DbRow[]> {
    const { scanLimit } = this.transport
    const rows = await this.call('claim', [this.groupId, room, this.spec.leaseMs, this.spec.ordered, scanLimit])
    const taken = rows.filter((r) => r.seq !== null && r.seq !== undefined)
    if (taken.length > 0) this.soon = SOON_MS
    else this.idleHint = rows[0] ?? {}
    return taken
  }

  /** How long to sleep after an empty claim: not at all on 'more', a short backoff on 'soon', else until the next due row or poll. */
  private idleMs(): number {
    const { pollIntervalMs } = this.transport
    const meta = this.idleHint
    if (meta.hint === 'more') return 0
    let wait = pollIntervalMs
    if (meta.hint === 'soon') {
      wait = this.soon
      this.soon = Math.min(this.soon * 2, SOON_MAX_MS, pollIntervalMs)
    } else this.soon = SOON_MS
    if (meta.next_in_ms !== null && meta.next_in_ms !== undefined) wait = Math.min(wait, Number(meta.next_in_ms) + 1)
    return wait
  }

  /** Rows claimed after close: back to the group at once, without spending an attempt. */
  private async giveBack(rows: readonly DbRow[]): Promise<void> {
    try {
      await this.call('release', [this.groupId, rows.map((r) => Number(r.seq)), rows.map((r) => Number(r.attempt))])
    } catch (err) {
      this.transport.reportError(err, { operation: 'release', group: this.spec.group })
    }
  }
}
