import { ConnectionState, type ConnectionStateOptions } from './adapter/connection.js'
import { type PublishDeadlineOptions, resolvePublishTimeout } from './adapter/deadline.js'
import { unrefTimer } from './adapter/unref.js'
import { assertPublishable, type Envelope, tryDecodeEnvelope } from './envelope.js'
import { ConfigError, TransportError } from './errors.js'
import { newEventId } from './ids.js'
import { SETTLED } from './settled.js'
import { compilePattern } from './subjects.js'
import type {
  Capabilities,
  DeadLetter,
  DeadLetterReason,
  DeadLetterStore,
  Delivery,
  Subscription,
  SubscriptionSpec,
  Transport,
} from './transport.js'

/**
 * Options of `memoryTransport`. `publishTimeoutMs` is accepted and checked like on every tier, but an
 * in-process publish never waits; `onConnectionState` hears `up` at creation and `closed` on close.
 */
export interface MemoryTransportOptions extends ConnectionStateOptions, PublishDeadlineOptions {
  /** Events kept for replay by new groups with `startFrom: 'earliest'`. */
  retention?: number
}

/** Defaults of `MemoryTransportOptions`. */
export const MEMORY_DEFAULTS = Object.freeze({ retention: 10_000 })

/** Tier 0 capabilities: in-process, nothing survives a restart. */
export const MEMORY_CAPABILITIES: Capabilities = Object.freeze({
  persistent: false,
  replay: true,
  ordering: 'per-key',
  delay: true,
  maxPayloadBytes: Number.POSITIVE_INFINITY,
})

/**
 * Tier 0: an in-process transport for tests, local development and demos. Same semantics as the
 * real tiers (groups, competing consumers, leases, retries, dead letters, ordering, replay), no
 * durability. Envelopes are passed by reference, not copied.
 */
export function memoryTransport(options: MemoryTransportOptions = {}): MemoryTransportApi {
  return new MemoryTransport(options)
}

/** The memory transport: the SPI, its dead letters, and a hook to simulate corrupted messages. */
export interface MemoryTransportApi extends Transport {
  readonly deadLetters: DeadLetterStore
  /** Hands `raw` to subscribers of `type` as a tier would after reading it off the wire: decoded and checked, malformed when it is not a valid envelope. */
  injectRaw(type: string, raw: string): void
}

/** Set for an injected undecodable message: the raw body and why it was refused. */
interface Malformed {
  readonly raw: string
  readonly error: string
}

interface Member {
  readonly spec: SubscriptionSpec
  readonly onBatch: (batch: Delivery[]) => Promise<void>
  /** Called when `onBatch` settles: the member may take more (made once, not per batch). */
  readonly done: () => void
  inFlight: number
  busy: boolean
  closed: boolean
}

class MemoryGroup {
  readonly match: (type: string) => boolean
  readonly members: Member[] = []
  /** Deliveries handed out and not yet settled: an intrusive list, so no per-delivery hashing. */
  private firstOut: MemoryDelivery | undefined
  readonly lockedKeys = new Set<string>()
  /** Queued deliveries (not handed out yet), from `head` on. */
  private items: MemoryDelivery[] = []
  private head = 0
  private next = 0
  /** A run is queued or under way: pushes and releases meanwhile need no other (the run's loop sees them). */
  scheduled = false
  /** Dispatches this group once scheduled (one function per group, not one per schedule). */
  readonly run: () => void

  constructor(
    readonly name: string,
    readonly pattern: string,
    readonly ordered: boolean,
    /** Hands out what members have room for; true when it stopped with work left (its round limit). */
    dispatch: (group: MemoryGroup) => boolean,
    reschedule: (group: MemoryGroup) => void,
  ) {
    this.match = compilePattern(pattern)
    this.run = () => {
      let more = false
      try {
        more = dispatch(this)
      } finally {
        this.scheduled = false
      }
      if (more) reschedule(this)
    }
  }

  get size(): number {
    return this.items.length - this.head
  }

  push(d: MemoryDelivery): void {
    this.items.push(d)
  }

  /** Puts a delivery back at the front, so a redelivered event keeps its place. */
  unshift(d: MemoryDelivery): void {
    if (this.head > 0) this.items[--this.head] = d
    else this.items.unshift(d)
  }

  /** Takes up to `n` queued deliveries; in ordered groups skips (keeps) those whose key is in flight. */
  take(n: number): MemoryDelivery[] {
    if (!this.ordered) {
      const taken = this.items.slice(this.head, this.head + n)
      this.head += taken.length
      this.compact()
      return taken
    }
    const taken: MemoryDelivery[] = []
    const kept: MemoryDelivery[] = []
    let i = this.head
    for (; i < this.items.length && taken.length < n; i++) {
      const d = this.items[i]
      if (d === undefined) break
      const key = d.carried.subject
      if (key !== undefined && this.lockedKeys.has(key)) kept.push(d)
      else {
        if (key !== undefined) this.lockedKeys.add(key)
        taken.push(d)
      }
    }
    this.items = kept.concat(this.items.slice(i))
    this.head = 0
    return taken
  }

  /** Adds a delivery to the handed-out list; returns it. */
  handOut(d: MemoryDelivery): MemoryDelivery {
    d.nextOut = this.firstOut
    if (this.firstOut) this.firstOut.prevOut = d
    this.firstOut = d
    return d
  }

  /** Removes a delivery from the handed-out list. */
  settle(d: MemoryDelivery): void {
    if (d.prevOut) d.prevOut.nextOut = d.nextOut
    else this.firstOut = d.nextOut
    if (d.nextOut) d.nextOut.prevOut = d.prevOut
    d.prevOut = d.nextOut = undefined
  }

  /** The handed-out deliveries whose lease ran out by `now`. */
  expired(now: number): MemoryDelivery[] {
    const out: MemoryDelivery[] = []
    for (let d = this.firstOut; d; d = d.nextOut) if (d.expiresAt <= now) out.push(d)
    return out
  }

  /** The next member with room, round-robin. */
  nextMember(): Member | undefined {
    for (let k = 0; k < this.members.length; k++) {
      const m = this.members[(this.next + k) % this.members.length]
      if (m && !m.busy && !m.closed && m.inFlight < m.spec.maxInFlight) {
        this.next = (this.next + k + 1) % this.members.length
        return m
      }
    }
    return undefined
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
  }
}

/** Batches one group run hands out before it yields to other groups (see `dispatch`). */
const DISPATCH_ROUNDS = 16

/**
 * One hand-out of an event to a group: queued in the group until a member takes it, then in the group's
 * handed-out list until it is settled or its lease runs out. It is handed out once: a retry or a
 * redelivery queues a new one (attempt + 1), so a late settle of this one finds it settled and does nothing.
 */
class MemoryDelivery implements Delivery {
  settled = false
  /** The member it was handed to; undefined while queued. */
  member: Member | undefined = undefined
  expiresAt = 0
  /** Neighbours in the group's handed-out list. */
  prevOut: MemoryDelivery | undefined = undefined
  nextOut: MemoryDelivery | undefined = undefined

  constructor(
    private readonly transport: MemoryTransport,
    readonly group: MemoryGroup,
    /** The envelope; for a malformed message only a carrier of the routing type. */
    readonly carried: Envelope,
    readonly attempt: number,
    readonly malformed: Malformed | undefined,
  ) {}

  get envelope(): Envelope | undefined {
    return this.malformed ? undefined : this.carried
  }

  /** The same message queued again for its next attempt. */
  again(): MemoryDelivery {
    return new MemoryDelivery(this.transport, this.group, this.carried, this.attempt + 1, this.malformed)
  }

  ack(): Promise<void> {
    this.transport.release(this)
    return SETTLED
  }

  retry(delayMs: number): Promise<void> {
    if (this.transport.release(this)) this.transport.requeue(this, delayMs)
    return SETTLED
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    if (this.transport.release(this)) this.transport.bury(this, reason)
    return SETTLED
  }

  touch(): Promise<void> {
    if (!this.settled && this.member) this.expiresAt = Date.now() + this.member.spec.leaseMs
    return SETTLED
  }
}

class MemoryTransport implements MemoryTransportApi {
  readonly name = 'memory'
  readonly capabilities = MEMORY_CAPABILITIES
  readonly deadLetters: DeadLetterStore
  private readonly groups = new Map<string, MemoryGroup>()
  private readonly routes = new Map<string, MemoryGroup[]>()
  private readonly history: Array<Envelope | undefined>
  private historyNext = 0
  private historyCount = 0
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly dead = new Map<string, DeadLetter & { readonly groupKey: string }>()
  private sweeper: NodeJS.Timeout | undefined
  private sweepEveryMs = 1000
  private closed = false
  private readonly state: ConnectionState

  constructor(options: MemoryTransportOptions) {
    const retention = options.retention ?? MEMORY_DEFAULTS.retention
    if (!Number.isInteger(retention) || retention < 0)
      throw new ConfigError(`memoryTransport retention must be a non-negative integer, got ${String(retention)}`)
    resolvePublishTimeout(options.publishTimeoutMs, 'memoryTransport')
    this.state = new ConnectionState(options)
    this.state.up()
    this.history = new Array(retention)
    this.deadLetters = {
      list: async ({ group, limit = 100 } = {}) =>
        [...this.dead.values()]
          .filter((d) => group === undefined || d.group === group)
          .slice(0, limit)
          .map(({ groupKey: _, ...d }) => d),
      redrive: async (ids) => {
        let n = 0
        for (const id of ids) {
          const d = this.dead.get(id)
          const group = d && this.groups.get(d.groupKey)
          if (!d || !group || !d.envelope) continue
          this.dead.delete(id)
          group.push(new MemoryDelivery(this, group, d.envelope, 1, undefined))
          this.schedule(group)
          n++
        }
        return n
      },
      purge: async (ids) => ids.reduce((n, id) => n + (this.dead.delete(id) ? 1 : 0), 0),
    }
  }

  publish(batch: readonly Envelope[]): Promise<void> {
    if (this.closed)
      return Promise.reject(new TransportError('memory transport is closed: create a new one', { retryable: false }))
    try {
      for (const envelope of batch) assertPublishable(envelope)
    } catch (err) {
      return Promise.reject(err)
    }
    for (const envelope of batch) {
      this.remember(envelope)
      const due = envelope.deliverat === undefined ? 0 : Date.parse(envelope.deliverat) - Date.now()
      if (due > 0) this.later(due, () => this.route(envelope))
      else this.route(envelope)
    }
    return SETTLED
  }

  injectRaw(type: string, raw: string): void {
    // Decoded as every broker tier decodes what it reads, so a forged but well-formed body is refused the same way.
    const decoded = tryDecodeEnvelope(raw)
    const carrier = { type } as Envelope
    for (const group of this.groups.values()) {
      if (!group.match(type)) continue
      group.push(
        decoded.envelope
          ? new MemoryDelivery(this, group, decoded.envelope, 1, undefined)
          : new MemoryDelivery(this, group, carrier, 1, decoded.malformed),
      )
      this.schedule(group)
    }
  }

  async subscribe(spec: SubscriptionSpec, onBatch: (batch: Delivery[]) => Promise<void>): Promise<Subscription> {
    if (this.closed) throw new TransportError('memory transport is closed: create a new one', { retryable: false })
    const key = `${spec.group}\u0000${spec.pattern}`
    let group = this.groups.get(key)
    if (!group) {
      group = new MemoryGroup(
        spec.group,
        spec.pattern,
        spec.ordered,
        (g) => this.dispatch(g),
        (g) => this.schedule(g),
      )
      this.groups.set(key, group)
      this.routes.clear()
      if (spec.startFrom === 'earliest') {
        for (const envelope of this.retained())
          if (group.match(envelope.type)) group.push(new MemoryDelivery(this, group, envelope, 1, undefined))
      }
    }
    const owner = group
    const member: Member = {
      spec,
      onBatch,
      done: () => {
        member.busy = false
        if (owner.size > 0) this.schedule(owner)
      },
      inFlight: 0,
      busy: false,
      closed: false,
    }
    group.members.push(member)
    this.startSweeper(spec.leaseMs)
    this.schedule(group)
    return {
      close: async () => {
        member.closed = true
        const i = owner.members.indexOf(member)
        if (i >= 0) owner.members.splice(i, 1)
        if (spec.ephemeral && owner.members.length === 0) {
          this.groups.delete(key)
          this.routes.clear()
        }
      },
    }
  }

  async close(): Promise<void> {
    this.closed = true
    this.state.closed()
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    clearInterval(this.sweeper)
    for (const g of this.groups.values()) for (const m of g.members) m.closed = true
  }

  /** Marks a delivery settled and frees its slot; false when it was already settled or expired. */
  release(d: MemoryDelivery): boolean {
    if (d.settled) return false
    d.settled = true
    d.group.settle(d)
    if (d.member) d.member.inFlight--
    const key = d.carried.subject
    if (d.group.ordered && key !== undefined) d.group.lockedKeys.delete(key)
    if (d.group.size > 0) this.schedule(d.group)
    return true
  }

  /** Queues `d`'s next attempt after `delayMs`. */
  requeue(d: MemoryDelivery, delayMs: number): void {
    const group = d.group
    const next = d.again()
    if (delayMs <= 0) {
      group.push(next)
      this.schedule(group)
    } else {
      this.later(delayMs, () => {
        group.push(next)
        this.schedule(group)
      })
    }
  }

  bury(d: MemoryDelivery, reason: DeadLetterReason): void {
    const id = newEventId()
    const group = d.group
    this.dead.set(id, {
      id,
      group: group.name,
      groupKey: `${group.name}\u0000${group.pattern}`,
      ...(d.malformed ? { raw: d.malformed.raw } : { envelope: d.carried }),
      reason,
      failedAt: new Date().toISOString(),
    })
  }

  private route(envelope: Envelope): void {
    const type = envelope.type
    let targets = this.routes.get(type)
    if (!targets) {
      targets = [...this.groups.values()].filter((g) => g.match(type))
      this.routes.set(type, targets)
    }
    for (const group of targets) {
      group.push(new MemoryDelivery(this, group, envelope, 1, undefined))
      this.schedule(group)
    }
  }

  private schedule(group: MemoryGroup): void {
    if (group.scheduled || this.closed) return
    group.scheduled = true
    // A bare promise reaction: queueMicrotask wraps each callback in an async resource (an allocation
    // and a bind per schedule), which is most of the cost of a schedule on the one-at-a-time path.
    void SETTLED.then(group.run)
  }

  /**
   * Hands the group's queue to members with room, round-robin, while both last. A member whose `onBatch`
   * settled at once (`SETTLED`: the consumer handled the batch synchronously and has room) takes the next
   * batch in this same loop instead of one microtask later; after `DISPATCH_ROUNDS` batches the group
   * yields to other groups' runs (true: schedule another run).
   */
  private dispatch(group: MemoryGroup): boolean {
    for (let round = 0; group.size > 0; round++) {
      if (round === DISPATCH_ROUNDS) return true
      const member = group.nextMember()
      if (!member) return false
      const batch = group.take(member.spec.maxInFlight - member.inFlight)
      if (batch.length === 0) return false
      const expiresAt = Date.now() + member.spec.leaseMs
      for (const d of batch) {
        d.member = member
        d.expiresAt = expiresAt
        group.handOut(d)
      }
      member.inFlight += batch.length
      member.busy = true
      const taken = member.onBatch(batch)
      if (taken === SETTLED) member.busy = false
      else taken.then(member.done, member.done)
    }
    return false
  }

  private remember(envelope: Envelope): void {
    if (this.history.length === 0) return
    this.history[this.historyNext] = envelope
    this.historyNext = (this.historyNext + 1) % this.history.length
    this.historyCount = Math.min(this.historyCount + 1, this.history.length)
  }

  private retained(): Envelope[] {
    const out: Envelope[] = []
    const n = this.history.length
    for (let i = 0; i < this.historyCount; i++) {
      const e = this.history[(this.historyNext - this.historyCount + i + n) % n]
      if (e !== undefined) out.push(e)
    }
    return out
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      fn()
    }, ms)
    this.timers.add(timer)
  }

  /** Hands out again every delivery whose lease ran out (its consumer crashed or hung). */
  private startSweeper(leaseMs: number): void {
    const every = Math.min(1000, Math.max(10, Math.floor(leaseMs / 4)))
    if (this.sweeper && every >= this.sweepEveryMs) return
    clearInterval(this.sweeper)
    this.sweepEveryMs = every
    this.sweeper = setInterval(() => {
      const now = Date.now()
      for (const group of this.groups.values()) {
        for (const d of group.expired(now)) {
          if (this.release(d)) {
            group.unshift(d.again())
            this.schedule(group)
          }
        }
      }
    }, every)
    unrefTimer(this.sweeper)
  }
}
