import type { Delivery } from '../transport.js'
import { handOff } from './hand-off.js'
import { InFlight, type InFlightSlot } from './in-flight.js'
import { WakeableSleep } from './wakeable-sleep.js'

/** Pause after a failed fetch or a rejected `onBatch`, doubling per failure up to the max. */
export const FETCH_LOOP_DEFAULTS = Object.freeze({ backoff: Object.freeze({ initialMs: 100, maxMs: 5_000 }) })

/** What a tier plugs into the fetch loop: its backend calls, nothing about slots, batching or sleeping. */
export interface FetchLoopOptions<M> {
  /** `spec.maxInFlight`: deliveries handed out and not settled never exceed it. */
  readonly maxInFlight: number
  /**
   * Fetches up to `room` (> 0) messages; may block (a long poll) and should end early when `signal`
   * aborts (close). Returns what it got, possibly nothing.
   */
  readonly fetch: (room: number, signal: AbortSignal) => Promise<readonly M[]>
  /** Wraps fetched messages as deliveries, one slot each; a message it drops must free its slot. */
  readonly toDeliveries: (messages: readonly M[], slots: readonly InFlightSlot[]) => Delivery[]
  /** Core's callback: never called concurrently, awaited before the next fetch. */
  readonly onBatch: (batch: Delivery[]) => Promise<void>
  /** A fetch failed (`failures` in a row) or `onBatch` rejected (`failures` 0). The loop backs off and goes on. */
  readonly onError: (err: unknown, failures: number) => void
  /** Messages that arrived after close: give them back to the group at once (optional: else the lease does). */
  readonly handBack?: (messages: readonly M[]) => Promise<void>
  /** Runs before each fetch (scheduled jobs: reclaim, discovery, keep-alives); a throw counts as a failed fetch. */
  readonly beforeFetch?: () => Promise<void>
  /** After a failed fetch, before the backoff (e.g. recreate a deleted consumer group). */
  readonly recover?: (err: unknown) => Promise<void>
  /** How long to sleep after a fetch that brought nothing, ms (default 0: fetch again, for long polls). */
  readonly idleMs?: () => number
  /** How long to wait while every slot is taken before running `beforeFetch` again, ms (default 1,000). */
  readonly fullMs?: () => number
  /** Backoff after failures (default `FETCH_LOOP_DEFAULTS.backoff`). */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number }
}

/**
 * The receive loop every pull-based tier runs per subscription: fetch up to the free slots, hand the
 * batch to `onBatch` and await it, repeat. It survives `onBatch` rejecting (the slots come back and
 * the loop backs off), backs off on fetch errors with a sleep that `wake()` or `close()` cut short,
 * sleeps on a real timer (never a spin on resolved promises) while full or idle, and stops cleanly
 * when closed while a fetch is pending.
 */
export class FetchLoop<M> {
  /** The loop's sleep; `wake()` ends it (a push hint, a retry coming due). */
  readonly sleeper = new WakeableSleep()
  readonly inFlight: InFlight
  private readonly abort = new AbortController()
  private running: Promise<void> | undefined
  private inHandOff = false
  private waitingForRoom = false
  /** Failed fetches in a row. */
  private failures = 0
  /** Rejected `onBatch` calls in a row. */
  private rejections = 0

  constructor(private readonly options: FetchLoopOptions<M>) {
    this.inFlight = new InFlight(options.maxInFlight, () => {
      if (this.waitingForRoom) this.sleeper.wake()
    })
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.abort.signal.aborted
  }

  /** Aborted on close: pass it to long polls. */
  get signal(): AbortSignal {
    return this.abort.signal
  }

  /** Starts the loop (once). */
  start(): void {
    this.running ??= this.run()
  }

  /** Ends the current sleep (or makes the next one return at once). */
  wake(): void {
    this.sleeper.wake()
  }

  /**
   * Stops intake: no `onBatch` starts after this resolves. Waits for a pending fetch to end (its
   * messages are handed back), but not for an `onBatch` in progress: core may wait there for room
   * that frees only after close.
   */
  async close(): Promise<void> {
    if (this.closed) return
    this.abort.abort()
    this.sleeper.wake()
    if (!this.inHandOff) await this.running
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        await this.options.beforeFetch?.()
        if (this.closed) break
        if (this.inFlight.room <= 0) {
          await this.waitForRoom()
          continue
        }
        const messages = await this.options.fetch(this.inFlight.room, this.abort.signal)
        this.failures = 0
        if (this.closed) {
          if (messages.length > 0) await this.options.handBack?.(messages).catch(() => {})
          break
        }
        if (messages.length === 0) {
          const idle = this.options.idleMs?.() ?? 0
          if (idle > 0) await this.sleeper.sleep(idle)
          continue
        }
        await this.deliver(messages)
      } catch (err) {
        if (this.closed) break
        this.failures++
        this.options.onError(err, this.failures)
        await this.options.recover?.(err).catch(() => {})
        await this.backoff(this.failures)
      }
    }
  }

  private async waitForRoom(): Promise<void> {
    this.waitingForRoom = true
    try {
      await this.sleeper.sleep(this.options.fullMs?.() ?? 1_000)
    } finally {
      this.waitingForRoom = false
    }
  }

  private async deliver(messages: readonly M[]): Promise<void> {
    const slots = this.inFlight.take(messages.length)
    const batch = this.options.toDeliveries(messages, slots)
    if (batch.length === 0) return
    this.inHandOff = true
    let ok: boolean
    try {
      ok = await handOff(this.options.onBatch, batch, slots, (err) => this.options.onError(err, 0))
    } finally {
      this.inHandOff = false
    }
    if (ok) this.rejections = 0
    // A consumer that keeps rejecting gets the same pause as a failing backend, not a hot loop.
    else if (!this.closed) await this.backoff(++this.rejections)
  }

  /** Sleeps the backoff for the `n`th failure in a row (wakeable). */
  private backoff(n: number): Promise<boolean> {
    const { initialMs, maxMs } = this.options.backoff ?? FETCH_LOOP_DEFAULTS.backoff
    return this.sleeper.sleep(Math.min(maxMs, initialMs * 2 ** Math.min(n - 1, 20)))
  }
}
