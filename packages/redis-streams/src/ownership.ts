import { LeaseKeeper } from '@tierbus/core/adapter'
import type { RedisStreamClient } from './client.js'
import { ACQUIRE_OWNERSHIP_SCRIPT, evalScript, KEEP_OWNERSHIP_SCRIPT } from './commands.js'
import type { RedisKeys } from './keys.js'

/**
 * Per-key order across the members of a group (`ordered: true`). Each stream is a partition (events of
 * one type, in publish order) owned by one member at a time under a lease key
 * (`<prefix>:owner:<consumer group>:<stream>`, `SET NX PX` + renewal); only the owner reads it, so
 * same-key events can never run on two members at once, and core's per-key lanes keep them in order
 * inside the owner. The lease moves when its owner dies (no renewal for one lease); the new owner
 * first takes over the old owner's pending entries, all together once they are idle for a lease, and
 * only then reads new entries, so nothing of a key overtakes what the old owner left unsettled.
 */
export class StreamOwnership {
  /** Streams this member owns, with when their lease surely runs out (measured from before the request). */
  private readonly owned = new Map<string, number>()
  /** Owned streams still holding a previous owner's pending entries: not read until they are taken over. */
  private readonly settling = new Set<string>()
  private readonly keeper: LeaseKeeper<string>
  /** When to look for free streams next. */
  nextAcquireAt = 0

  constructor(
    private readonly client: RedisStreamClient,
    private readonly keys: RedisKeys,
    private readonly consumerGroup: string,
    private readonly consumer: string,
    private readonly leaseMs: number,
    private readonly onError: (err: unknown) => void,
  ) {
    this.keeper = new LeaseKeeper(leaseMs, (stream) => void this.renew(stream))
  }

  /** Every stream owned now (reclaimed from). */
  get streams(): string[] {
    return [...this.owned.keys()]
  }

  /**
   * Owned streams read for new entries: the previous owner's entries are all taken over, and the lease
   * holds for longer than the safety margin, so no read of a stream can outlast its lease (a member
   * whose renewal is late stops reading before another member may take the stream).
   */
  readable(now = Date.now()): string[] {
    const out: string[] = []
    for (const [s, until] of this.owned) if (!this.settling.has(s) && until - now > this.margin) out.push(s)
    return out
  }

  /** Longest a blocking read of `streams` may last, ms: it must end before any of their leases may. */
  readLimit(streams: readonly string[], now = Date.now()): number {
    let limit = Number.POSITIVE_INFINITY
    for (const s of streams) limit = Math.min(limit, (this.owned.get(s) ?? now) - now - this.margin)
    return Math.max(0, limit)
  }

  /** Slack kept between the end of a read and the end of a lease (Redis and local clocks run apart a little). */
  private get margin(): number {
    return Math.max(20, Math.floor(this.leaseMs / 10))
  }

  /** Tries to take every stream of `candidates` not owned yet; returns how many it took. */
  async acquire(candidates: readonly string[]): Promise<number> {
    this.nextAcquireAt = Date.now() + Math.max(10, Math.floor(this.leaseMs / 2))
    const free = candidates.filter((s) => !this.owned.has(s))
    if (free.length === 0) return 0
    const sentAt = Date.now()
    const reply = (await this.client.send(
      evalScript(
        ACQUIRE_OWNERSHIP_SCRIPT,
        free.map((s) => this.keyOf(s)),
        [this.consumer, this.leaseMs],
      ),
    )) as unknown[]
    let taken = 0
    free.forEach((stream, i) => {
      if (Number(reply[i]) !== 1) return
      this.owned.set(stream, sentAt + this.leaseMs)
      this.settling.add(stream)
      this.keeper.track(stream)
      taken++
    })
    return taken
  }

  /** The reclaim found these owned streams still holding other consumers' entries; the rest are settled. */
  noteBusy(busy: readonly string[]): void {
    const still = new Set(busy)
    for (const s of this.settling) if (!still.has(s)) this.settling.delete(s)
  }

  /** Gives every stream up (close): another member takes them at its next look instead of after a lease. */
  async release(): Promise<void> {
    const streams = [...this.owned.keys()]
    this.keeper.stop()
    this.owned.clear()
    this.settling.clear()
    if (streams.length === 0) return
    await this.client.pipeline(streams.map((s) => evalScript(KEEP_OWNERSHIP_SCRIPT, [this.keyOf(s)], [this.consumer])))
  }

  private async renew(stream: string): Promise<void> {
    try {
      const sentAt = Date.now()
      const kept = Number(
        await this.client.send(evalScript(KEEP_OWNERSHIP_SCRIPT, [this.keyOf(stream)], [this.consumer, this.leaseMs])),
      )
      if (!this.owned.has(stream)) return
      if (kept === 1) {
        this.owned.set(stream, sentAt + this.leaseMs)
        return
      }
      // Our lease ran out (a pause longer than a lease) and another member owns the stream now.
      this.owned.delete(stream)
      this.settling.delete(stream)
      this.keeper.untrack(stream)
    } catch (err) {
      this.onError(err)
    }
  }

  private keyOf(stream: string): string {
    return this.keys.owner(this.consumerGroup, stream)
  }
}
