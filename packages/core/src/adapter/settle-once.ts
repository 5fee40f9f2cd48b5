import { SETTLED } from '../settled.js'
import type { InFlightSlot } from './in-flight.js'

/**
 * What a settle that is done already returns: core's `SETTLED`, which the consumer recognises by identity
 * and so finishes the delivery synchronously (no async frame, no microtask) instead of awaiting it.
 */
const DONE: Promise<void> = SETTLED

/**
 * The settle guard of one delivery: the first of `ack` / `retry` / `deadLetter` wins and frees the
 * in-flight slot; later settles, and any settle or `touch` once the transport is closed, are no-ops
 * that resolve (the message then comes back after its lease, as the SPI promises).
 *
 * ```ts
 * ack(): Promise<void> { return this.once.settle(() => this.ctx.acks.add(this.id)) }
 * touch(): Promise<void> { return this.once.touch(() => this.ctx.extend(this.id)) }
 * ```
 */
export class SettleOnce {
  private done = false

  constructor(
    private readonly slot: InFlightSlot | undefined,
    /** True once the transport is closed: its connections are gone, so nothing is sent. */
    private readonly isClosed: () => boolean = () => false,
  ) {}

  /** True once a settle ran (or the transport closed before one did). */
  get settled(): boolean {
    return this.done
  }

  /**
   * Runs `action` if this is the first settle and the transport is open; frees the slot before the
   * action starts, so the loop may fetch while the backend call is in flight. `action` gets `arg`: a
   * module-level function and its argument spare the hottest settle (the ack) a closure per delivery.
   */
  settle<A>(action: (arg: A) => unknown, arg?: A): Promise<void> {
    if (this.done) return DONE
    this.done = true
    this.slot?.free()
    if (this.isClosed()) return DONE
    try {
      const result = action(arg as A)
      // The action's own promise, not `result.then(ignore)`: a settle is on every delivery's path, and the
      // `.then` cost a promise, a reaction and a microtask each. Its value, if any, is not part of the
      // contract (callers treat it as void); its rejection reaches the caller unchanged, as before.
      return result instanceof Promise ? (result as Promise<void>) : DONE
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Runs `action` (a lease extension) only while unsettled and the transport is open. */
  touch(action: () => unknown): Promise<void> {
    if (this.done || this.isClosed()) return DONE
    try {
      const result = action()
      return result instanceof Promise ? result.then(ignore) : DONE
    } catch (err) {
      return Promise.reject(err)
    }
  }
}

function ignore(): void {}
