import {
  createBus,
  describeError,
  newEventId,
  TransportError,
  type Bus,
  type BusSubscription,
  type Capabilities,
  type DeadLetterStore,
  type Delivery,
  type Envelope,
  type Subscription,
  type SubscriptionSpec,
  type Transport,
} from '@tierbus/core'
import { DEDUP_DEFAULTS, memoryDedupStore, type DedupStore } from './dedup.js'
import { startOutboxRelay, type OutboxRelay } from './outbox-relay.js'
import { PHASE_BEHAVIOUR, type Phase } from './phases.js'
import { pendingEvent } from './relayed-envelope.js'
import { ShadowComparator, type ShadowReport } from './shadow.js'
import type { MigrationStore } from './store.js'

/** Options of `migratingTransport`. */
export interface MigratingTransportOptions {
  source: Transport
  target: Transport
  phase: Phase
  /** Cross-tier dedup of `(group, event id)`; default in-process (use the Redis or Postgres store with several processes). */
  dedup?: DedupStore
  /** How long handled ids are remembered. */
  dedupTtlMs?: number
  /** Shadow phase: how long an id may be seen on one side only before it is reported. */
  shadowGraceMs?: number
  /** Failures nobody awaits (relay, dedup bookkeeping, phase polling). */
  onError?: (error: unknown, context: string) => void
  /**
   * The source is the db tier used as a transactional outbox: until the `target` phase, the app writes
   * events to the source only (in its own transactions, if it likes) and a relay forwards them to the
   * target, so no event exists in one tier and not the other. `'in-process'` runs the relay in this
   * process; `'external'` leaves it to a dedicated process (`startOutboxRelay`). Default: off (inline
   * dual-write with a pending buffer).
   */
  outbox?: 'in-process' | 'external'
  /** Follow the live phase of `migration` in a shared store (set by `tierbus migrate advance`). */
  control?: { store: MigrationStore; migration: string; pollMs?: number }
}

/** Counters of the migration itself. */
export interface MigrationStats {
  phase: Phase
  /** Events whose write to the second tier failed and went to the durable pending buffer. */
  secondaryWriteFailures: number
  /** Events the relay forwarded from the pending buffer. */
  relayed: number
  /** Deliveries skipped because the other tier's copy already ran for the group. */
  duplicatesSkipped: number
  /** Deliveries put back because the other tier's copy was running at that moment. */
  duplicatesDeferred: number
}

/** A transport that is mid-migration: phases, dual-write, shadow comparison, cross-tier dedup. */
export interface MigratingTransport extends Transport {
  readonly phase: Phase
  /** Moves to another phase live: publishing switches at once, subscriptions are re-pointed. */
  setPhase(phase: Phase): Promise<void>
  /** What the shadow phase has compared so far. */
  shadowReport(): ShadowReport
  stats(): MigrationStats
}

const PENDING = { target: '_migration.to-target', source: '_migration.to-source' } as const
const PENDING_EVENTS = { target: pendingEvent(PENDING.target), source: pendingEvent(PENDING.source) } as const
type Side = 'source' | 'target'
type Role = 'handle:source' | 'handle:target' | 'shadow:target'

/**
 * Composes a source and a target transport into one that follows the migration phase (see
 * PHASE_BEHAVIOUR). A write to the second tier that fails is not dropped: it is published to the first
 * tier as a pending event, and a relay forwards it with retries (the first tier is the durable buffer).
 */
export function migratingTransport(options: MigratingTransportOptions): MigratingTransport {
  return new Migration(options)
}

class Migration implements MigratingTransport {
  readonly name: string
  readonly capabilities: Capabilities
  readonly deadLetters: DeadLetterStore | undefined
  private current: Phase
  private readonly tiers: Record<Side, Transport>
  private readonly dedup: DedupStore
  private readonly ttlMs: number
  private readonly shadow: ShadowComparator
  private readonly onError: (error: unknown, context: string) => void
  private readonly subscriptions = new Set<MigratingSubscription>()
  /** Relay buses of the current phase; undefined until first started. */
  private relays: Array<{ bus: Bus; sub: BusSubscription }> | undefined
  private readonly outbox: 'in-process' | 'external' | undefined
  private outboxRelay: Promise<OutboxRelay> | undefined
  readonly counters = { secondaryWriteFailures: 0, relayed: 0, duplicatesSkipped: 0, duplicatesDeferred: 0 }
  private poller: NodeJS.Timeout | undefined
  private switching: Promise<void> = Promise.resolve()

  constructor(options: MigratingTransportOptions) {
    this.tiers = { source: options.source, target: options.target }
    this.current = options.phase
    this.name = `${options.source.name}->${options.target.name}`
    const a = options.source.capabilities
    const b = options.target.capabilities
    this.capabilities = Object.freeze({
      persistent: a.persistent && b.persistent,
      replay: a.replay && b.replay,
      ordering: a.ordering === 'per-key' && b.ordering === 'per-key' ? 'per-key' : 'none',
      delay: a.delay && b.delay,
      maxPayloadBytes: Math.min(a.maxPayloadBytes, b.maxPayloadBytes),
    })
    this.outbox = options.outbox
    this.dedup = options.dedup ?? memoryDedupStore()
    this.ttlMs = options.dedupTtlMs ?? DEDUP_DEFAULTS.ttlMs
    this.shadow = new ShadowComparator(options.shadowGraceMs)
    this.onError = options.onError ?? ((err, context) => console.error(`[tierbus/migrator] ${context}:`, err))
    this.deadLetters = combinedDeadLetters(this.tiers)
    const control = options.control
    if (control) {
      this.poller = setInterval(() => {
        control.store.readPhase(control.migration).then(
          (phase) => {
            if (phase && phase !== this.current) void this.setPhase(phase).catch((err) => this.onError(err, `switching to phase ${phase}`))
          },
          (err) => this.onError(err, 'reading the migration phase'),
        )
      }, control.pollMs ?? 2_000)
      this.poller.unref()
    }
  }

  get phase(): Phase {
    return this.current
  }

  async publish(batch: readonly Envelope[]): Promise<void> {
    // A publish-only process must drain its own pending buffer too, so relays start with the first publish.
    if (this.relays === undefined) await this.startRelays()
    if (this.outbox && this.current !== 'target') {
      // Outbox: the source only; the relay forwards to the target.
      await this.tiers.source.publish(batch)
      return
    }
    const [first, second] = PHASE_BEHAVIOUR[this.current].publish
    await this.tiers[first!].publish(batch)
    if (!second) return
    try {
      await this.tiers[second].publish(batch)
    } catch (err) {
      this.counters.secondaryWriteFailures += batch.length
      this.onError(err, `write to the ${second} tier failed; buffering ${batch.length} event(s) on the ${first} tier for the relay`)
      try {
        await this.tiers[first!].publish(batch.map((e) => pendingEnvelope(e, second)))
      } catch (bufferErr) {
        throw new TransportError(
          `publish reached the ${first} tier but neither the ${second} tier nor the pending buffer: retry the publish (consumers dedupe by event id); ${describeError(bufferErr)}`,
          { cause: bufferErr },
        )
      }
    }
  }

  async subscribe(spec: SubscriptionSpec, onBatch: (batch: Delivery[]) => Promise<void>): Promise<Subscription> {
    await this.startRelays()
    const sub = new MigratingSubscription(this, spec, onBatch)
    await sub.apply(this.current)
    this.subscriptions.add(sub)
    return {
      close: async () => {
        this.subscriptions.delete(sub)
        await sub.close()
      },
    }
  }

  setPhase(phase: Phase): Promise<void> {
    // Serialized: a poll and a manual switch never re-point subscriptions at the same time.
    this.switching = this.switching.then(async () => {
      if (phase === this.current && this.relays !== undefined) return
      this.current = phase
      await this.stopRelays()
      await this.startRelays()
      for (const sub of this.subscriptions) await sub.apply(phase)
    })
    return this.switching
  }

  shadowReport(): ShadowReport {
    return this.shadow.report()
  }

  stats(): MigrationStats {
    return { phase: this.current, ...this.counters }
  }

  async close(): Promise<void> {
    clearInterval(this.poller)
    await this.switching.catch(() => {})
    for (const sub of [...this.subscriptions]) await sub.close()
    this.subscriptions.clear()
    await this.stopRelays()
    await (await this.outboxRelay?.catch(() => undefined))?.close()
    await Promise.all([this.tiers.source.close(), this.tiers.target.close()])
  }

  tier(side: Side): Transport {
    return this.tiers[side]
  }

  /** Wraps a delivery batch with cross-tier dedup (all phases but `source`). */
  deduped(group: string, leaseMs: number, ordered: boolean, side: Side, onBatch: (batch: Delivery[]) => Promise<void>) {
    return async (batch: Delivery[]): Promise<void> => {
      const shadowing = PHASE_BEHAVIOUR[this.current].shadow && side === 'source'
      if (this.current === 'source') return onBatch(batch)
      const classify = async (d: Delivery): Promise<Delivery | undefined> => {
        if (!d.envelope) return d
        if (shadowing) this.shadow.seen('source', group, d.envelope.id)
        // Groups cannot contain "/", so this key is unambiguous (and storable: Postgres text rejects NUL).
        const key = `${group}/${d.envelope.id}`
        const claim = await this.dedup.claim(key, leaseMs)
        if (claim === 'done') {
          this.counters.duplicatesSkipped++
          await d.ack()
          return undefined
        }
        // The other tier's copy is running right now: look again when its lease would have run out.
        if (claim === 'processing') {
          this.counters.duplicatesDeferred++
          await d.retry(Math.min(leaseMs, 1_000))
          return undefined
        }
        return this.claimed(d, key)
      }
      let kept: Array<Delivery | undefined>
      if (ordered) {
        kept = []
        for (const d of batch) kept.push(await classify(d))
      } else kept = await Promise.all(batch.map(classify))
      const handled = kept.filter((d): d is Delivery => d !== undefined)
      if (handled.length > 0) await onBatch(handled)
    }
  }

  /** Shadow reading of the target: records what arrives, acks it, runs no handler. */
  shadowed(group: string) {
    return async (batch: Delivery[]): Promise<void> => {
      for (const d of batch) {
        if (d.envelope) this.shadow.seen('target', group, d.envelope.id)
        await d.ack()
      }
    }
  }

  private claimed(d: Delivery, key: string): Delivery {
    const { dedup, ttlMs } = this
    return {
      envelope: d.envelope,
      attempt: d.attempt,
      ...(d.malformed ? { malformed: d.malformed } : {}),
      async ack() {
        await dedup.complete(key, ttlMs)
        await d.ack()
      },
      async retry(delayMs) {
        await dedup.release(key)
        await d.retry(delayMs)
      },
      async deadLetter(reason) {
        // Settled for this group: the other tier's copy must not run (and dead-letter) again.
        await dedup.complete(key, ttlMs)
        await d.deadLetter(reason)
      },
      ...(d.touch ? { touch: () => d.touch!() } : {}),
    }
  }

  private async startRelays(): Promise<void> {
    if (this.relays !== undefined) return
    const relays: Array<{ bus: Bus; sub: BusSubscription }> = (this.relays = [])
    // From dual-write on, relays run in every phase (target included) so whatever was buffered or
    // written to the outbox before a phase change still drains; only `source` has nothing to forward.
    if (this.current === 'source') return
    if (this.outbox === 'in-process') {
      this.outboxRelay ??= startOutboxRelay({ source: this.tiers.source, target: this.tiers.target, onError: (err) => this.onError(err, 'outbox relay') })
      await this.outboxRelay
    }
    if (this.outbox) return
    for (const from of ['source', 'target'] as const) {
      const to: Side = from === 'source' ? 'target' : 'source'
      const bus = createBus({ transport: this.tiers[from], source: 'tierbus/migrator', closeTransport: false, onError: (err) => this.onError(err, 'relay') })
      // By definition, not by pattern: the schema validates each relayed envelope before it is republished
      // (the target's publish checks type and replyto again at its own boundary).
      const sub = await bus.subscribe(
        PENDING_EVENTS[to],
        async (event) => {
          await this.tiers[to].publish([event.data])
          this.counters.relayed++
        },
        { group: 'tierbus-migration-relay', concurrency: 16, retry: { attempts: 20, backoff: { baseMs: 500, maxMs: 60_000 } } },
      )
      relays.push({ bus, sub })
    }
  }

  private async stopRelays(): Promise<void> {
    const relays = this.relays ?? []
    this.relays = undefined
    await Promise.all(relays.map((r) => r.bus.close()))
  }
}

/** One app subscription, re-pointed at the tiers each phase needs. */
class MigratingSubscription {
  private readonly open = new Map<Role, Subscription>()

  constructor(
    private readonly migration: Migration,
    private readonly spec: SubscriptionSpec,
    private readonly onBatch: (batch: Delivery[]) => Promise<void>,
  ) {}

  async apply(phase: Phase): Promise<void> {
    const b = PHASE_BEHAVIOUR[phase]
    const wanted = new Set<Role>(b.handle.map((side) => `handle:${side}` as const))
    if (b.shadow) wanted.add('shadow:target')
    // Open what the phase adds before closing what it drops, so no group goes unconsumed.
    for (const role of wanted) {
      if (this.open.has(role)) continue
      this.open.set(role, await this.start(role))
    }
    for (const [role, sub] of this.open) {
      if (wanted.has(role)) continue
      this.open.delete(role)
      await sub.close()
    }
  }

  async close(): Promise<void> {
    const subs = [...this.open.values()]
    this.open.clear()
    await Promise.all(subs.map((s) => s.close()))
  }

  private start(role: Role): Promise<Subscription> {
    const { spec, migration } = this
    if (role === 'shadow:target') return migration.tier('target').subscribe(spec, migration.shadowed(spec.group))
    const side: Side = role === 'handle:source' ? 'source' : 'target'
    return migration.tier(side).subscribe(spec, migration.deduped(spec.group, spec.leaseMs, spec.ordered, side, this.onBatch))
  }
}

function pendingEnvelope(envelope: Envelope, to: Side): Envelope {
  return {
    specversion: '1.0',
    id: newEventId(),
    source: 'tierbus/migrator',
    type: PENDING[to],
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data: envelope,
    correlationid: envelope.id,
  }
}

/** Dead letters of both tiers, ids prefixed with the tier they live in. */
function combinedDeadLetters(tiers: Record<Side, Transport>): DeadLetterStore | undefined {
  if (!tiers.source.deadLetters && !tiers.target.deadLetters) return undefined
  const split = (ids: readonly string[]) => {
    const by: Record<Side, string[]> = { source: [], target: [] }
    for (const id of ids) {
      const [side, ...rest] = id.split(':')
      if (side === 'source' || side === 'target') by[side].push(rest.join(':'))
    }
    return by
  }
  return {
    async list(options) {
      const out = []
      for (const side of ['source', 'target'] as const) {
        for (const d of (await tiers[side].deadLetters?.list(options)) ?? []) out.push({ ...d, id: `${side}:${d.id}` })
      }
      return out.sort((a, b) => a.failedAt.localeCompare(b.failedAt))
    },
    async redrive(ids) {
      const by = split(ids)
      return ((await tiers.source.deadLetters?.redrive(by.source)) ?? 0) + ((await tiers.target.deadLetters?.redrive(by.target)) ?? 0)
    },
    async purge(ids) {
      const by = split(ids)
      return ((await tiers.source.deadLetters?.purge(by.source)) ?? 0) + ((await tiers.target.deadLetters?.purge(by.target)) ?? 0)
    },
  }
}
