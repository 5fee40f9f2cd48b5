import {
  type Bus,
  type BusSubscription,
  type Capabilities,
  combineDeadLetters,
  createBus,
  DEDUP_DEFAULTS,
  type DeadLetterStore,
  type DedupStore,
  type Delivery,
  describeError,
  type Envelope,
  intersectCapabilities,
  memoryDedupStore,
  newEventId,
  type Subscription,
  type SubscriptionSpec,
  type Transport,
  TransportError,
  ValidationError,
} from '@tierbus/core'
import { SharedIntake } from '@tierbus/core/adapter'
import { type OutboxRelay, startOutboxRelay } from './outbox-relay.js'
import { phaseChangeRefusal } from './phase-transitions.js'
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
  /**
   * Moves to another phase live: subscriptions are re-pointed, then publishing switches. Atomic: if a
   * tier refuses a subscription, the migration stays in its phase with its subscriptions unchanged and
   * this rejects with a TransportError (call it again once the tier is back).
   */
  setPhase(phase: Phase): Promise<void>
  /** What the shadow phase has compared so far. */
  shadowReport(): ShadowReport
  stats(): MigrationStats
}

const PENDING = { target: '_migration.to-target', source: '_migration.to-source' } as const
const PENDING_EVENTS = { target: pendingEvent(PENDING.target), source: pendingEvent(PENDING.source) } as const
type Side = 'source' | 'target'
type Role = 'handle:source' | 'handle:target' | 'shadow:target'
type Relay = { bus: Bus; sub: BusSubscription }

/**
 * Composes a source and a target transport into one that follows the migration phase (see
 * PHASE_BEHAVIOUR). A write to the second tier that fails is not dropped: it is published to the first
 * tier as a pending event, and a relay forwards it with retries (the first tier is the durable buffer).
 */
export function migratingTransport(options: MigratingTransportOptions): MigratingTransport {
  return new Migration(options)
}

/** What a migration between two tiers can promise in every phase: only what both tiers can do. */
export function migrationCapabilities(a: Capabilities, b: Capabilities): Capabilities {
  return intersectCapabilities([a, b])
}

class Migration implements MigratingTransport {
  readonly name: string
  readonly capabilities: Capabilities
  readonly deadLetters: DeadLetterStore | undefined
  private current: Phase
  /** The phase a running setPhase is switching to (its new subscriptions already consume). */
  private next: Phase | undefined
  private readonly tiers: Record<Side, Transport>
  private readonly dedup: DedupStore
  private readonly ttlMs: number
  private readonly shadow: ShadowComparator
  private readonly onError: (error: unknown, context: string) => void
  private readonly subscriptions = new Set<MigratingSubscription>()
  /** Relay buses of the current phase; undefined until first started. */
  private relays: Promise<Relay[]> | undefined
  private readonly outbox: 'in-process' | 'external' | undefined
  private outboxRelay: Promise<OutboxRelay> | undefined
  readonly counters = { secondaryWriteFailures: 0, relayed: 0, duplicatesSkipped: 0, duplicatesDeferred: 0 }
  private poller: NodeJS.Timeout | undefined
  private switching: Promise<void> = Promise.resolve()
  /** The last stored phase this process refused to follow (reported once, not on every poll). */
  private refusedPhase: Phase | undefined

  constructor(options: MigratingTransportOptions) {
    this.tiers = { source: options.source, target: options.target }
    this.current = options.phase
    this.name = `${options.source.name}->${options.target.name}`
    this.capabilities = migrationCapabilities(options.source.capabilities, options.target.capabilities)
    this.outbox = options.outbox
    this.dedup = options.dedup ?? memoryDedupStore()
    this.ttlMs = options.dedupTtlMs ?? DEDUP_DEFAULTS.ttlMs
    this.shadow = new ShadowComparator(options.shadowGraceMs)
    this.onError = options.onError ?? ((err, context) => console.error(`[tierbus/migrator] ${context}:`, err))
    this.deadLetters = combineDeadLetters([
      ['source', this.tiers.source.deadLetters],
      ['target', this.tiers.target.deadLetters],
    ])
    const control = options.control
    if (control) {
      let polling = false
      this.poller = setInterval(() => {
        // One poll at a time: a slow poll's stale read must not be judged after a newer one.
        if (polling) return
        polling = true
        this.followStore(control)
          .catch((err) => this.onError(err, 'reading the migration phase'))
          .finally(() => (polling = false))
      }, control.pollMs ?? 2_000)
      this.poller.unref()
    }
  }

  /**
   * Follows the phase in the shared store, but only along recorded one-step changes: a phase written
   * around tierbus (a raw SET of the key) or one that skips phases is refused, reported once to onError
   * as a ValidationError, and this process keeps its phase.
   */
  private async followStore(control: NonNullable<MigratingTransportOptions['control']>): Promise<void> {
    const observed = await control.store.readPhase(control.migration)
    if (!observed || observed === this.current) return
    const history = await control.store.history(control.migration)
    // A legitimate change between the two reads would look like a mismatch: judge only a stable phase.
    if ((await control.store.readPhase(control.migration)) !== observed) return
    const refusal = phaseChangeRefusal(control.migration, this.current, observed, history)
    if (refusal) {
      if (this.refusedPhase !== observed)
        this.onError(
          new ValidationError(refusal, [{ path: 'phase', message: refusal }]),
          'following the migration phase',
        )
      this.refusedPhase = observed
      return
    }
    this.refusedPhase = undefined
    await this.setPhase(observed).catch((err) => this.onError(err, `switching to phase ${observed}`))
  }

  get phase(): Phase {
    return this.current
  }

  async publish(batch: readonly Envelope[]): Promise<void> {
    // A publish-only process must drain its own pending buffer too, so relays start with the first publish.
    await this.startRelays()
    if (this.outbox && this.current !== 'target') {
      // Outbox: the source only; the relay forwards to the target.
      await this.tiers.source.publish(batch)
      return
    }
    const [first, second] = PHASE_BEHAVIOUR[this.current].publish
    await this.tiers[first].publish(batch)
    if (!second) return
    try {
      await this.tiers[second].publish(batch)
    } catch (err) {
      this.counters.secondaryWriteFailures += batch.length
      this.onError(
        err,
        `write to the ${second} tier failed; buffering ${batch.length} event(s) on the ${first} tier for the relay`,
      )
      try {
        await this.tiers[first].publish(batch.map((e) => pendingEnvelope(e, second)))
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
    // In line with phase switches, so a subscription never starts on a phase that is being left.
    const started = this.switching.then(async () => {
      await sub.apply(this.current)
      this.subscriptions.add(sub)
    })
    this.switching = started.catch(() => {})
    await started
    return {
      close: async () => {
        this.subscriptions.delete(sub)
        await sub.close()
      },
    }
  }

  setPhase(phase: Phase): Promise<void> {
    // Serialized: a poll and a manual switch never re-point subscriptions at the same time. A failed
    // switch rejects its own caller only; the chain goes on, so a later setPhase runs.
    const switched = this.switching.then(() => this.switchTo(phase))
    this.switching = switched.catch(() => {})
    return switched
  }

  /**
   * Opens what `phase` adds (subscriptions, relays) while the current phase keeps running; only when all
   * of it is open does the phase change and what it drops close. On failure, closes what it opened.
   */
  private async switchTo(phase: Phase): Promise<void> {
    const previous = this.current
    if (phase === previous && this.relays !== undefined) return
    const relaysChange = this.relays === undefined || (previous === 'source') !== (phase === 'source')
    const opened: MigratingSubscription[] = []
    let relays: Promise<Relay[]> | undefined
    this.next = phase
    try {
      for (const sub of this.subscriptions) {
        opened.push(sub)
        await sub.open(phase)
      }
      if (relaysChange) {
        relays = this.openRelays(phase)
        await relays
      }
    } catch (err) {
      for (const sub of opened)
        await sub
          .trim(previous)
          .catch((e: unknown) => this.onError(e, `closing what the failed switch to ${phase} opened`))
      throw new TransportError(
        `could not switch the migration from phase ${previous} to ${phase}: ${describeError(err)}. It stays in ${previous} with its subscriptions unchanged; fix the tier and call setPhase('${phase}') again`,
        { cause: err },
      )
    } finally {
      this.next = undefined
    }
    this.current = phase
    const dropped = relays ? this.relays : undefined
    if (relays) this.relays = relays
    for (const sub of this.subscriptions)
      await sub
        .trim(phase)
        .catch((e: unknown) => this.onError(e, `closing subscriptions phase ${phase} no longer uses`))
    await closeRelays(dropped)
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

  /** Wraps a delivery batch with cross-tier dedup (all phases but `source`, and while switching away from it). */
  deduped(group: string, leaseMs: number, ordered: boolean, side: Side, onBatch: (batch: Delivery[]) => Promise<void>) {
    return async (batch: Delivery[]): Promise<void> => {
      const shadowing = PHASE_BEHAVIOUR[this.current].shadow && side === 'source'
      if (this.current === 'source' && (this.next === undefined || this.next === 'source')) return onBatch(batch)
      const classify = async (d: Delivery): Promise<Delivery | undefined> => {
        if (!d.envelope) return d
        if (shadowing) this.shadow.seen('source', group, d.envelope.id)
        // Groups cannot contain "/", so this key is unambiguous (and storable: Postgres text rejects NUL).
        const key = `${group}/${d.envelope.id}`
        // Claimed per tier: this tier's own redelivery (a retry) of an event it holds runs; the other tier's copy waits.
        const claim = await this.dedup.claim(key, leaseMs, side)
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
        return this.claimed(d, key, side, leaseMs)
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

  private claimed(d: Delivery, key: string, side: Side, leaseMs: number): Delivery {
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
        // Keep holding the event until this tier hands it out again: the retry counts attempts on this
        // tier, so the other tier's copy must not start over at attempt 1 in between.
        await dedup.claim(key, delayMs + leaseMs, side)
        await d.retry(delayMs)
      },
      async deadLetter(reason) {
        // Settled for this group: the other tier's copy must not run (and dead-letter) again, but a
        // redrive of this dead letter (through this tier) must.
        await dedup.complete(key, ttlMs, side)
        await d.deadLetter(reason)
      },
      ...(d.touch ? { touch: d.touch.bind(d) } : {}),
    }
  }

  /** Starts the relays of the current phase once (the first publish or subscribe). */
  private async startRelays(): Promise<void> {
    this.relays ??= this.openRelays(this.current)
    const relays = this.relays
    try {
      await relays
    } catch (err) {
      if (this.relays === relays) this.relays = undefined
      throw err
    }
  }

  /** Opens the relays `phase` needs; on failure closes the ones it opened and rejects. */
  private async openRelays(phase: Phase): Promise<Relay[]> {
    const relays: Relay[] = []
    // From dual-write on, relays run in every phase (target included) so whatever was buffered or
    // written to the outbox before a phase change still drains; only `source` has nothing to forward.
    if (phase === 'source') return relays
    if (this.outbox === 'in-process') {
      this.outboxRelay ??= startOutboxRelay({
        source: this.tiers.source,
        target: this.tiers.target,
        onError: (err) => this.onError(err, 'outbox relay'),
      })
      await this.outboxRelay
    }
    if (this.outbox) return relays
    try {
      await this.openPendingRelays(relays)
    } catch (err) {
      await Promise.all(relays.map((r) => r.bus.close()))
      throw err
    }
    return relays
  }

  /** A relay per direction: forwards the pending buffer on one tier to the other. */
  private async openPendingRelays(relays: Relay[]): Promise<void> {
    for (const from of ['source', 'target'] as const) {
      const to: Side = from === 'source' ? 'target' : 'source'
      const bus = createBus({
        transport: this.tiers[from],
        source: 'tierbus/migrator',
        closeTransport: false,
        onError: (err) => this.onError(err, 'relay'),
      })
      // By definition, not by pattern: the schema validates each relayed envelope before it is republished
      // (the target's publish checks type and replyto again at its own boundary).
      const sub = await bus.subscribe(
        PENDING_EVENTS[to],
        async (event) => {
          await this.tiers[to].publish([event.data])
          this.counters.relayed++
        },
        {
          group: 'tierbus-migration-relay',
          concurrency: 16,
          retry: { attempts: 20, backoff: { baseMs: 500, maxMs: 60_000 } },
        },
      )
      relays.push({ bus, sub })
    }
  }

  private async stopRelays(): Promise<void> {
    const relays = this.relays
    this.relays = undefined
    await closeRelays(relays)
  }
}

async function closeRelays(relays: Promise<Relay[]> | undefined): Promise<void> {
  const open = (await relays?.catch(() => undefined)) ?? []
  await Promise.all(open.map((r) => r.bus.close()))
}

/** The tier subscriptions a phase uses. */
function rolesOf(phase: Phase): Set<Role> {
  const b = PHASE_BEHAVIOUR[phase]
  const roles = new Set<Role>(b.handle.map((side) => `handle:${side}` as const))
  if (b.shadow) roles.add('shadow:target')
  return roles
}

/** One app subscription, re-pointed at the tiers each phase needs. */
class MigratingSubscription {
  private readonly running = new Map<Role, Subscription>()
  /** Both handling tiers (cutover) feed the app's onBatch through this: one call at a time, one budget. */
  private readonly intake: SharedIntake

  constructor(
    private readonly migration: Migration,
    private readonly spec: SubscriptionSpec,
    onBatch: (batch: Delivery[]) => Promise<void>,
  ) {
    this.intake = new SharedIntake(spec.maxInFlight, spec.leaseMs, onBatch)
  }

  /** Opens, then closes, so no group goes unconsumed in between. */
  async apply(phase: Phase): Promise<void> {
    await this.open(phase)
    await this.trim(phase)
  }

  /** Opens the tier subscriptions `phase` adds, keeping the others; on failure closes what it opened. */
  async open(phase: Phase): Promise<void> {
    const added: Role[] = []
    try {
      for (const role of rolesOf(phase)) {
        if (this.running.has(role)) continue
        this.running.set(role, await this.start(role))
        added.push(role)
      }
    } catch (err) {
      await this.closeRoles(added)
      throw err
    }
  }

  /** Closes the tier subscriptions `phase` does not use. */
  async trim(phase: Phase): Promise<void> {
    const wanted = rolesOf(phase)
    await this.closeRoles([...this.running.keys()].filter((role) => !wanted.has(role)))
  }

  async close(): Promise<void> {
    this.intake.close()
    await this.closeRoles([...this.running.keys()])
  }

  private async closeRoles(roles: readonly Role[]): Promise<void> {
    const subs = roles.map((role) => this.running.get(role)).filter((s): s is Subscription => s !== undefined)
    for (const role of roles) this.running.delete(role)
    await Promise.all(subs.map((s) => s.close()))
  }

  private start(role: Role): Promise<Subscription> {
    const { spec, migration } = this
    if (role === 'shadow:target') return migration.tier('target').subscribe(spec, migration.shadowed(spec.group))
    const side: Side = role === 'handle:source' ? 'source' : 'target'
    return migration
      .tier(side)
      .subscribe(spec, migration.deduped(spec.group, spec.leaseMs, spec.ordered, side, this.intake.deliver))
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
