import {
  compilePattern,
  DEAD_LETTER_KINDS,
  type DeadLetterReason,
  type Delivery,
  isWildcard,
  type Subscription,
  type SubscriptionSpec,
} from '@tierbus/core'
import { type AckCoalescer, FetchLoop, LeaseKeeper } from '@tierbus/core/adapter'
import { type StreamAck, streamAckKey } from './ack-batcher.js'
import { type BlockingReader, isBusyGroupError, isNoGroupError, type RedisStreamClient } from './client.js'
import {
  DEAD_LETTER_SCRIPT,
  DROP_EPHEMERAL_SCRIPT,
  evalScript,
  ORDERED_RECLAIM_SCRIPT,
  PRUNE_CONSUMERS_SCRIPT,
  RECLAIM_SCRIPT,
  RELEASE_CONSUMER_SCRIPT,
  SET_IDLE_SCRIPT,
  xgroupCreate,
  xreadgroup,
} from './commands.js'
import { type DeliveryOwner, StreamDelivery } from './delivery.js'
import { parseReadReply, parseReclaimReply, rawOf, type StreamEntry } from './entries.js'
import type { RedisKeys } from './keys.js'
import type { ResolvedRedisStreamsOptions } from './options.js'
import { StreamOwnership } from './ownership.js'
import type { RedisStreamsStats } from './stats.js'

/** Slack added when waiting for an idle time to reach the lease (Redis idle times are whole milliseconds). */
const CLOCK_MARGIN_MS = 2

/** What a subscription shares with its transport. */
export interface SubscriptionContext {
  readonly client: RedisStreamClient
  readonly keys: RedisKeys
  readonly options: ResolvedRedisStreamsOptions
  readonly acks: AckCoalescer<StreamAck>
  readonly stats: RedisStreamsStats
  /** True once the transport is closed (settles are then no-ops). */
  readonly isClosed: () => boolean
}

/** A retry whose delay is longer than the lease: its entry is kept alive here until it is nearly due. */
interface DeferredRetry {
  readonly stream: string
  readonly id: string
  readonly dueAt: number
}

/**
 * The host part of consumer names. Read through `process.getBuiltinModule` rather than an import of `node:os`,
 * so this module loads in edge runtimes (which publish over Upstash and never subscribe) and bundles for them.
 */
function hostLabel(): string {
  const os = globalThis.process?.getBuiltinModule?.('node:os')
  return os?.hostname() ?? globalThis.process?.env?.HOSTNAME ?? 'host'
}

/** A unique consumer name: host, pid and a random part, so a restarted process never reuses a crashed one's name. */
function consumerName(): string {
  const random = Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, '0')).join('')
  return `${hostLabel()}:${globalThis.process?.pid ?? 0}:${random}`
}

/**
 * One subscription: a consumer in the consumer group of (group, pattern) on every matching stream plus
 * the group's redrive stream. Core's fetch loop drives it: each fetch reclaims expired leases and due
 * retries (XAUTOCLAIM) and reads new entries (XREADGROUP, blocking on its own connection over TCP,
 * adaptive polling over HTTP); scheduled jobs (discovery, keep-alives, pruning) run before each fetch.
 *
 * Retries: `retry(delay)` leaves the entry pending and sets its idle time to `leaseMs - delay`
 * (XCLAIM IDLE, JUSTID so no delivery is counted), so any member's XAUTOCLAIM with min-idle `leaseMs`
 * takes it once `delay` has passed, counting the redelivery: the delivery count is the attempt. A delay
 * longer than the lease is kept alive (idle reset) by this subscription until it is within one lease of
 * due. A crash at any point leaves the entry pending, so it is reclaimed after at most one lease.
 */
export class StreamSubscription implements Subscription, DeliveryOwner {
  readonly consumerGroup: string
  readonly consumer = consumerName()
  private readonly streams = new Set<string>()
  private readonly redriveStream: string | undefined
  private readonly match: ((type: string) => boolean) | undefined
  private readonly reclaimEveryMs: number
  private readonly pruneEveryMs: number
  private readonly deferred = new Map<string, DeferredRetry>()
  /** The ack-coalescer key per stream (see ack): built once, not a new string to hash on every ack. */
  private readonly ackKeys = new Map<string, string>()
  /** Ordered subscriptions only: the streams this member owns (see ownership.ts). */
  private readonly ownership: StreamOwnership | undefined
  /**
   * Ordered subscriptions only: every entry handed to core and not settled is kept from going idle, also
   * while it waits behind its key's lane (core renews only running ones). So another member that took a
   * stream over waits until this member settled what it holds, or died (the renewals stop).
   */
  private readonly held: LeaseKeeper<StreamEntry> | undefined
  private reader: BlockingReader | undefined
  private readonly loop: FetchLoop<StreamEntry>
  private nextReclaimAt = 0
  private nextDiscoveryAt = Number.POSITIVE_INFINITY
  private nextKeepAt = Number.POSITIVE_INFINITY
  private nextPruneAt: number
  /** When the current blocking read or pause ends; a wake-up is only needed for something due earlier. */
  private blockedUntil = 0
  private pollMs: number
  private knownTypeCount = -1
  private discoveryRounds = 0
  private reclaimOffset = 0

  private constructor(
    private readonly ctx: SubscriptionContext,
    readonly spec: SubscriptionSpec,
    onBatch: (batch: Delivery[]) => Promise<void>,
  ) {
    this.consumerGroup = ctx.keys.consumerGroup(spec.group, spec.pattern)
    this.redriveStream = spec.ephemeral ? undefined : ctx.keys.redrive(this.consumerGroup)
    this.match = isWildcard(spec.pattern) ? compilePattern(spec.pattern) : undefined
    this.reclaimEveryMs = Math.max(10, Math.min(ctx.options.reclaimMaxIntervalMs, Math.floor(spec.leaseMs / 4)))
    this.pruneEveryMs = Math.max(1_000, Math.min(300_000, Math.floor(ctx.options.staleConsumerMs / 2)))
    this.nextPruneAt = Date.now() + this.pruneEveryMs
    this.pollMs = ctx.options.pollMinMs
    this.ownership = spec.ordered
      ? new StreamOwnership(ctx.client, ctx.keys, this.consumerGroup, this.consumer, spec.leaseMs, (err) =>
          ctx.options.onError(err, { operation: 'renew stream ownership', group: spec.group }),
        )
      : undefined
    this.held = spec.ordered
      ? new LeaseKeeper<StreamEntry>(spec.leaseMs, (e) => {
          if (ctx.isClosed()) return this.held?.stop()
          this.setIdle(e.stream, [[e.id, 0]]).catch((err) =>
            ctx.options.onError(err, { operation: 'keep held entries', group: spec.group }),
          )
        })
      : undefined
    this.loop = new FetchLoop<StreamEntry>({
      maxInFlight: spec.maxInFlight,
      beforeFetch: () => this.runScheduledJobs(),
      fetch: (room) => this.fetch(room),
      toDeliveries: (entries, slots) =>
        entries.map((e, i) => {
          const slot = slots[i]
          if (!slot) throw new Error('internal: FetchLoop gave fewer in-flight slots than entries (a tierbus bug)')
          this.held?.track(e)
          return new StreamDelivery(this, e, slot, ctx.isClosed)
        }),
      onBatch,
      onError: (err) => ctx.options.onError(err, { operation: 'consume', group: spec.group }),
      // The stream or group was deleted (DEL, FLUSHDB): recreate from the start of what is there now.
      recover: async (err) => {
        if (isNoGroupError(err)) await this.ensureGroups(this.readKeys(), '0')
      },
      handBack: (entries) => this.handBack(entries),
      fullMs: () => this.budget(Date.now(), false),
    })
  }

  private get closed(): boolean {
    return this.loop.closed
  }

  /** Creates the groups (so events published after this resolves are seen), then starts the loop. */
  static async start(
    ctx: SubscriptionContext,
    spec: SubscriptionSpec,
    onBatch: (batch: Delivery[]) => Promise<void>,
  ): Promise<StreamSubscription> {
    const sub = new StreamSubscription(ctx, spec, onBatch)
    await sub.establish()
    sub.loop.start()
    return sub
  }

  /** True for a wildcard subscription, which wants to hear about event types published for the first time. */
  get wantsTypeNotices(): boolean {
    return this.match !== undefined
  }

  /** A type was published for the first time: look for its stream now if it matches. */
  noticeType(type: string): void {
    if (!this.match || this.closed || !this.match(type) || this.streams.has(this.ctx.keys.stream(type))) return
    this.nextDiscoveryAt = 0
    this.knownTypeCount = -1
    this.wake()
  }

  async close(): Promise<void> {
    if (this.closed) return
    const stopping = this.loop.close()
    // Closing the reader's connection ends a blocking read at once. Entries the server handed to a read
    // whose reply is lost stay pending under this consumer, so it is not removed below, and the group's
    // other members reclaim them after the lease.
    await this.reader?.close().catch(() => {})
    await stopping
    const { client, keys } = this.ctx
    try {
      await this.ownership?.release()
      if (this.spec.ephemeral && !this.match) {
        await client.send(
          evalScript(
            DROP_EPHEMERAL_SCRIPT,
            [keys.stream(this.spec.pattern), keys.types],
            [this.consumerGroup, this.spec.pattern],
          ),
        )
      } else {
        await client.send(evalScript(RELEASE_CONSUMER_SCRIPT, this.readKeys(), [this.consumerGroup, this.consumer]))
      }
    } catch (err) {
      this.ctx.options.onError(err, { operation: 'close subscription', group: this.spec.group })
    }
  }

  // --- DeliveryOwner -------------------------------------------------------------------------------

  ack(entry: StreamEntry): Promise<void> {
    this.held?.untrack(entry)
    const ack = { stream: entry.stream, group: this.consumerGroup, id: entry.id }
    let key = this.ackKeys.get(ack.stream)
    if (key === undefined) {
      key = streamAckKey(ack)
      this.ackKeys.set(ack.stream, key)
    }
    return this.ctx.acks.ack(key, ack)
  }

  async retry(entry: StreamEntry, delayMs: number): Promise<void> {
    this.held?.untrack(entry)
    const lease = this.spec.leaseMs
    const delay = Math.max(0, Math.ceil(delayMs))
    const now = Date.now()
    if (delay <= lease || this.closed) {
      await this.setIdle(entry.stream, [[entry.id, Math.max(0, lease - delay)]])
      // Counted from when Redis set the idle time (after the round trip), or the claim would come too early and find nothing.
      this.wakeBy(Date.now() + delay + CLOCK_MARGIN_MS)
      return
    }
    this.deferred.set(`${entry.stream}\u0000${entry.id}`, { stream: entry.stream, id: entry.id, dueAt: now + delay })
    await this.setIdle(entry.stream, [[entry.id, 0]])
    this.nextKeepAt = Math.min(this.nextKeepAt, now + Math.floor(lease / 3), now + delay - lease)
    this.wakeBy(this.nextKeepAt)
  }

  async deadLetter(entry: StreamEntry, reason: DeadLetterReason): Promise<void> {
    this.held?.untrack(entry)
    const { client, keys } = this.ctx
    await client.send(
      evalScript(
        DEAD_LETTER_SCRIPT,
        [entry.stream, keys.deadLetters(this.spec.group), keys.deadLetterGroups],
        [
          this.consumerGroup,
          entry.id,
          this.spec.group,
          rawOf(entry.fields),
          JSON.stringify(reason),
          new Date().toISOString(),
          reason.kind === DEAD_LETTER_KINDS.malformed ? '1' : '0',
        ],
      ),
    )
  }

  async touch(entry: StreamEntry): Promise<void> {
    await this.setIdle(entry.stream, [[entry.id, 0]])
  }

  // --- the loop ------------------------------------------------------------------------------------

  private async establish(): Promise<void> {
    const { keys } = this.ctx
    const startId = this.spec.startFrom === 'earliest' ? '0' : '$'
    const streams = this.match ? await this.matchingStreams(true) : [keys.stream(this.spec.pattern)]
    await this.ensureGroups(streams, startId)
    if (this.redriveStream) await this.ensureGroups([this.redriveStream], '0')
    if (this.match) {
      this.knownTypeCount = Number(await this.ctx.client.send(['SCARD', keys.types]))
      this.nextDiscoveryAt = Date.now() + this.ctx.options.discoveryMs
    }
    if (this.ctx.client.openReader) this.reader = await this.ctx.client.openReader()
  }

  /** Discovery, keep-alives of long-delayed retries and pruning, when due. */
  private async runScheduledJobs(): Promise<void> {
    const now = Date.now()
    if (this.match && now >= this.nextDiscoveryAt) await this.discover()
    if (now >= this.nextKeepAt) await this.keepDeferred(now)
    if (now >= this.nextPruneAt) await this.prune()
    if (this.ownership && now >= this.ownership.nextAcquireAt && (await this.ownership.acquire(this.readKeys())) > 0)
      this.nextReclaimAt = 0
  }

  /** Reclaims due entries (expired leases, retries) when it is time, then reads new ones for the rest of `room`. */
  private async fetch(room: number): Promise<StreamEntry[]> {
    const now = Date.now()
    let entries: StreamEntry[] = []
    if (now >= this.nextReclaimAt) {
      // Set before the await: a retry scheduled meanwhile lowers it (wakeBy) and must not be overwritten.
      this.nextReclaimAt = now + this.reclaimEveryMs
      entries = await this.reclaim(room)
      if (entries.length >= room) this.nextReclaimAt = now
    }
    if (entries.length < room && !this.closed) {
      const block = entries.length > 0 || this.loop.sleeper.takeWake() ? 0 : this.budget(Date.now())
      entries = entries.concat(await this.read(room - entries.length, block))
    }
    return entries
  }

  /**
   * Milliseconds until the next scheduled job (reclaim, discovery, keep-alive, prune), at most `blockMs`.
   * While every slot is taken a reclaim cannot take anything, so it does not count then.
   */
  private budget(now: number, reclaimDue = true): number {
    const reclaimAt = reclaimDue ? this.nextReclaimAt : Number.POSITIVE_INFINITY
    const acquireAt = this.ownership?.nextAcquireAt ?? Number.POSITIVE_INFINITY
    const next = Math.min(
      reclaimAt,
      this.nextDiscoveryAt,
      this.nextKeepAt,
      this.nextPruneAt,
      acquireAt,
      now + this.ctx.options.blockMs,
    )
    return Math.max(0, next - now)
  }

  private async read(count: number, blockMs: number): Promise<StreamEntry[]> {
    const streams = this.ownership ? this.ownership.readable() : this.readKeys()
    if (streams.length === 0) {
      // An ordered member that owns nothing readable yet: wait for the next look at the leases.
      if (blockMs >= 1) await this.loop.sleeper.sleep(blockMs)
      return []
    }
    if (this.ownership) blockMs = Math.min(blockMs, this.ownership.readLimit(streams))
    const command = xreadgroup(
      this.consumerGroup,
      this.consumer,
      count,
      this.reader && blockMs >= 1 ? blockMs : undefined,
      streams,
    )
    if (this.reader) {
      this.blockedUntil = Date.now() + blockMs
      try {
        return parseReadReply(await this.reader.send(command))
      } finally {
        this.blockedUntil = 0
      }
    }
    // HTTP has no blocking read: poll, doubling the interval while nothing arrives.
    const entries = parseReadReply(await this.ctx.client.send(command))
    if (entries.length > 0) this.pollMs = this.ctx.options.pollMinMs
    else if (blockMs >= 1) {
      // Recompute the budget: a retry scheduled during the request may be due sooner.
      await this.loop.sleeper.sleep(Math.min(this.pollMs, this.budget(Date.now())))
      this.pollMs = Math.min(this.ctx.options.pollMaxMs, this.pollMs * 2)
    }
    return entries
  }

  private async reclaim(count: number): Promise<StreamEntry[]> {
    const keys = this.ownership ? this.ownership.streams : this.readKeys()
    if (keys.length === 0) return []
    // Rotate the order so that one stream's backlog cannot starve the others' expired leases.
    const offset = this.reclaimOffset++ % keys.length
    const rotated = keys.slice(offset).concat(keys.slice(0, offset))
    const script = this.ownership ? ORDERED_RECLAIM_SCRIPT : RECLAIM_SCRIPT
    const reply = await this.ctx.client.send(
      evalScript(script, rotated, [this.consumerGroup, this.consumer, this.spec.leaseMs, count]),
    )
    const { entries, trimmed, busy } = parseReclaimReply(reply)
    this.ownership?.noteBusy(busy)
    this.ctx.stats.reclaimed += entries.length
    this.ctx.stats.trimmedPending += trimmed
    return entries
  }

  /** Entries read after close: make them reclaimable by the group's other members at once. */
  private async handBack(entries: readonly StreamEntry[]): Promise<void> {
    for (const e of entries) this.held?.untrack(e)
    const byStream = new Map<string, Array<[string, number]>>()
    for (const e of entries) {
      const list = byStream.get(e.stream) ?? []
      list.push([e.id, this.spec.leaseMs])
      byStream.set(e.stream, list)
    }
    await Promise.all([...byStream].map(([stream, pairs]) => this.setIdle(stream, pairs))).catch(() => {})
  }

  private async setIdle(stream: string, pairs: ReadonlyArray<readonly [string, number]>): Promise<void> {
    await this.ctx.client.send(
      evalScript(SET_IDLE_SCRIPT, [stream], [this.consumerGroup, this.consumer, ...pairs.flat()]),
    )
  }

  /** Renews long-delayed retries; hands those within one lease of due to the idle-time scheme. */
  private async keepDeferred(now: number): Promise<void> {
    const lease = this.spec.leaseMs
    this.nextKeepAt = Number.POSITIVE_INFINITY
    const byStream = new Map<string, Array<[string, number]>>()
    let dueSoon = Number.POSITIVE_INFINITY
    for (const [key, d] of this.deferred) {
      const remaining = d.dueAt - now
      let idle = 0
      if (remaining <= lease) {
        idle = Math.max(0, lease - remaining)
        this.deferred.delete(key)
        dueSoon = Math.min(dueSoon, remaining)
      } else {
        this.nextKeepAt = Math.min(this.nextKeepAt, now + Math.floor(lease / 3), d.dueAt - lease)
      }
      const list = byStream.get(d.stream) ?? []
      list.push([d.id, idle])
      byStream.set(d.stream, list)
    }
    await Promise.all([...byStream].map(([stream, pairs]) => this.setIdle(stream, pairs)))
    if (Number.isFinite(dueSoon)) this.wakeBy(Date.now() + dueSoon + CLOCK_MARGIN_MS)
  }

  private async prune(): Promise<void> {
    this.nextPruneAt = Date.now() + this.pruneEveryMs
    const removed = await this.ctx.client.send(
      evalScript(PRUNE_CONSUMERS_SCRIPT, this.readKeys(), [
        this.consumerGroup,
        this.ctx.options.staleConsumerMs,
        this.consumer,
      ]),
    )
    this.ctx.stats.consumersPruned += Number(removed) || 0
  }

  /** Wildcards: adds groups on matching streams that appeared since the last look (from `0`: all their events are new). */
  private async discover(): Promise<void> {
    const { client, keys, options } = this.ctx
    this.nextDiscoveryAt = Date.now() + options.discoveryMs
    const count = Number(await client.send(['SCARD', keys.types]))
    // The registry only grows (but for closed request-reply inboxes): re-read it when its size changed, and now and then anyway.
    if (count === this.knownTypeCount && ++this.discoveryRounds % 10 !== 0) return
    this.knownTypeCount = count
    const fresh = (await this.matchingStreams(false)).filter((s) => !this.streams.has(s))
    if (fresh.length > 0) await this.ensureGroups(fresh, '0')
  }

  /** Streams whose type matches this wildcard: from the type registry, plus a SCAN on the first look. */
  private async matchingStreams(scan: boolean): Promise<string[]> {
    const { client, keys } = this.ctx
    const { match } = this
    if (!match) throw new Error('internal: matchingStreams() on a subscription without a wildcard (a tierbus bug)')
    const types = new Set((await client.send(['SMEMBERS', keys.types])) as string[])
    if (scan) {
      let cursor = '0'
      do {
        const [next, found] = (await client.send([
          'SCAN',
          cursor,
          'MATCH',
          keys.streamScanPattern,
          'COUNT',
          1000,
          'TYPE',
          'stream',
        ])) as [string, string[]]
        cursor = String(next)
        for (const key of found) {
          const type = keys.typeOfStream(key)
          if (type !== undefined) types.add(type)
        }
      } while (cursor !== '0')
    }
    return [...types].filter((t) => match(t)).map((t) => keys.stream(t))
  }

  private async ensureGroups(streams: readonly string[], startId: '$' | '0'): Promise<void> {
    if (streams.length === 0) return
    const replies = await this.ctx.client.pipeline(streams.map((s) => xgroupCreate(s, this.consumerGroup, startId)))
    streams.forEach((stream, i) => {
      const reply = replies[i]
      if (reply instanceof Error && !isBusyGroupError(reply)) throw reply
      if (stream !== this.redriveStream) this.streams.add(stream)
    })
  }

  private readKeys(): string[] {
    const keys = [...this.streams]
    if (this.redriveStream) keys.push(this.redriveStream)
    return keys
  }

  // --- waking ----------------------------------------------------------------------------------------

  /** Makes sure the loop looks again by `at` (a retry coming due): wakes it when it sleeps past that. */
  private wakeBy(at: number): void {
    this.nextReclaimAt = Math.min(this.nextReclaimAt, at)
    if (this.closed) return
    const sleeping = this.loop.sleeper.sleeping
    if (this.blockedUntil === 0 && !sleeping) return
    if (this.blockedUntil !== 0 && this.blockedUntil <= at && !sleeping) return
    this.wake()
  }

  private wake(): void {
    this.loop.wake()
    if (this.blockedUntil !== 0) this.reader?.interrupt()
  }
}
