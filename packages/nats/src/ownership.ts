import type { JetStreamManager, KV } from 'nats'
import { ERR_WRONG_LAST_SEQUENCE, jetStreamCode } from './errors.js'

/** The owner record of a group's consumer in the owners bucket. */
interface OwnerRecord {
  readonly owner: string
  /** Wall-clock ms after which another member may take the consumer over. */
  readonly until: number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * Per-key order across the members of a group (`ordered: true`) on NATS: the group's durable consumer
 * (its partition: the pattern's subjects, in stream order) is pulled by one member at a time. Ownership
 * is a record in a JetStream KV bucket, taken with `create` (or a compare-and-set `update` of a record
 * whose time ran out) and renewed by compare-and-set every third of a lease, so two members can never
 * both believe they own it. A new owner waits one ack wait (the lease) before its first pull, unless the
 * consumer has nothing unacknowledged: by then every message the old owner held is due for redelivery,
 * and JetStream hands redeliveries out before new messages, so nothing of a key overtakes them. A pull
 * never outlasts the lease, so an owner whose renewal fails stops receiving before another may start.
 * Expiry compares wall clocks: members must run NTP-synchronised clocks (the margin absorbs small skew).
 */
export class ConsumerOwnership {
  private revision = 0
  /** Local ms until which this member surely owns the consumer (0 = not the owner). */
  private until = 0
  /** When the first pull may go out after taking ownership. */
  private pullFrom = Number.POSITIVE_INFINITY
  private timer: NodeJS.Timeout | undefined
  private stopped = false

  constructor(
    private readonly kv: KV,
    private readonly jsm: () => JetStreamManager,
    private readonly stream: string,
    private readonly durable: string,
    private readonly member: string,
    private readonly leaseMs: number,
    /** Called when this member may pull now (ownership taken and settled). */
    private readonly onReady: () => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Slack between the end of a pull and the end of the lease. */
  private get margin(): number {
    return Math.max(100, Math.floor(this.leaseMs / 10))
  }

  /** Starts taking and keeping ownership. */
  start(): void {
    void this.tick()
  }

  /** How long a pull sent now may wait, ms; 0 when this member must not pull now. */
  pullWindowMs(now = Date.now()): number {
    if (this.stopped || now < this.pullFrom) return 0
    return Math.max(0, this.until - now - this.margin)
  }

  /** Gives ownership up (close) so another member takes over at its next look. */
  async release(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    if (this.until === 0) return
    this.until = 0
    await this.kv.delete(this.durable, { previousSeq: this.revision }).catch(() => {})
  }

  private schedule(ms: number): void {
    if (this.stopped) return
    this.timer = setTimeout(() => void this.tick(), ms)
    this.timer.unref()
  }

  private async tick(): Promise<void> {
    try {
      if (this.until > 0) await this.renew()
      else await this.acquire()
    } catch (err) {
      this.onError(err)
    } finally {
      this.schedule(Math.max(50, Math.floor(this.leaseMs / 3)))
    }
  }

  private record(until: number): Uint8Array {
    return encoder.encode(JSON.stringify({ owner: this.member, until } satisfies OwnerRecord))
  }

  private async acquire(): Promise<void> {
    const sentAt = Date.now()
    const entry = await this.kv.get(this.durable)
    let revision: number
    try {
      if (entry?.operation !== 'PUT') revision = await this.kv.create(this.durable, this.record(sentAt + this.leaseMs))
      else {
        const held = JSON.parse(decoder.decode(entry.value)) as Partial<OwnerRecord>
        if (typeof held.until === 'number' && held.until + this.margin > sentAt) return
        revision = await this.kv.update(this.durable, this.record(sentAt + this.leaseMs), entry.revision)
      }
    } catch {
      return // another member took it first
    }
    this.revision = revision
    this.until = sentAt + this.leaseMs
    // A previous owner's unacked messages are all due again one ack wait (the lease) from now at the latest.
    // That wait is set before asking the server whether there are any: if the question fails (a timeout under
    // load), this member still pulls once it is safe, instead of holding the consumer without ever pulling
    // (renewing keeps others out, so the partition would stall for good).
    this.pullFrom = Date.now() + this.leaseMs + this.margin
    try {
      const pending = (await this.jsm().consumers.info(this.stream, this.durable)).num_ack_pending
      if (pending === 0) this.pullFrom = Date.now()
    } catch (err) {
      this.onError(err)
    }
    setTimeout(() => !this.stopped && this.onReady(), Math.max(0, this.pullFrom - Date.now())).unref()
  }

  private async renew(): Promise<void> {
    const sentAt = Date.now()
    try {
      this.revision = await this.kv.update(this.durable, this.record(sentAt + this.leaseMs), this.revision)
      this.until = sentAt + this.leaseMs
    } catch (err) {
      // Compare-and-set failed: another member owns it now (ours had run out). Else retry at the next tick.
      if (
        jetStreamCode(err) === ERR_WRONG_LAST_SEQUENCE ||
        /wrong last sequence/i.test(String((err as Error)?.message))
      ) {
        this.until = 0
        this.pullFrom = Number.POSITIVE_INFINITY
      } else throw err
    }
  }
}
