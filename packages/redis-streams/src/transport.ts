import {
  assertPublishable,
  type Capabilities,
  type Delivery,
  type Envelope,
  encodeEnvelope,
  type Subscription,
  type SubscriptionSpec,
  type Transport,
  TransportError,
} from '@tierbus/core'
import { type AckCoalescer, ConnectionState, withDeadline } from '@tierbus/core/adapter'
import { type StreamAck, streamAckCoalescer } from './ack-batcher.js'
import { redisCapabilities } from './capabilities.js'
import type { RedisCommand, RedisStreamClient } from './client.js'
import { xadd } from './commands.js'
import { RedisDeadLetterStore } from './dead-letters.js'
import { DelayedMover } from './delayed.js'
import { RedisKeys } from './keys.js'
import { type RedisStreamsOptions, type ResolvedRedisStreamsOptions, resolveOptions } from './options.js'
import { RetentionTrimmer } from './retention.js'
import { newStats, type RedisStreamsStats } from './stats.js'
import { StreamSubscription } from './subscription.js'

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/**
 * Tier 2: Redis Streams. One stream per event type (`<prefix>:stream:<type>`), one consumer group per
 * (subscriber group, pattern) on each matching stream, XREADGROUP/XACK, XAUTOCLAIM for expired leases
 * and due retries, a dead-letter stream per group. Works over any `RedisStreamClient` (ioredis, Upstash).
 */
export class RedisStreamsTransport implements Transport {
  readonly capabilities: Capabilities
  readonly keys: RedisKeys
  readonly deadLetters: RedisDeadLetterStore
  private readonly options: ResolvedRedisStreamsOptions
  private readonly acks: AckCoalescer<StreamAck>
  private readonly counters: RedisStreamsStats = newStats()
  private readonly delayed: DelayedMover
  private readonly trimmer: RetentionTrimmer
  private readonly state: ConnectionState
  private readonly subscriptions = new Set<StreamSubscription>()
  /** Types this transport has registered in the type set already (so a publish sends XADD alone). */
  private readonly registered = new Set<string>()
  private stopListening: Promise<(() => Promise<void>) | undefined> | undefined
  private closed = false

  constructor(
    readonly name: string,
    /** The client commands go through (exposed for tooling and tests). */
    readonly client: RedisStreamClient,
    options: RedisStreamsOptions = {},
  ) {
    this.options = resolveOptions(options)
    this.capabilities = redisCapabilities(this.options.maxPayloadBytes)
    this.keys = new RedisKeys(this.options.prefix)
    this.acks = streamAckCoalescer(client)
    this.deadLetters = new RedisDeadLetterStore(client, this.keys)
    this.trimmer = new RetentionTrimmer(client, this.options, this.counters)
    this.delayed = new DelayedMover(client, this.keys, this.options, this.counters, (stream) =>
      this.trimmer.noteWrite(stream),
    )
    this.state = new ConnectionState({
      onConnectionState: this.options.onConnectionState,
      onError: (err) => this.options.onError(err, { operation: 'connection state listener' }),
    })
    if (client.watchConnection) client.watchConnection(this.state)
    else this.state.up()
  }

  /** Counters since creation: reclaimed leases, trimmed entries (unread ones too), pruned consumers, moved delayed events. */
  stats(): Readonly<RedisStreamsStats> {
    return { ...this.counters }
  }

  /** Entries retention removed before a consumer group settled them (only with `retention.trimUnread`). */
  trimmedUnread(): number {
    return this.counters.trimmedUnread
  }

  publish(batch: readonly Envelope[]): Promise<void> {
    // Not async: an app that awaits each publish pays for every promise hop, one at a time.
    try {
      this.assertOpen()
      if (batch.length === 0) return Promise.resolve()
      // ioredis queues commands while it reconnects: without a deadline a publish hangs for the whole outage.
      return withDeadline(this.send(batch), this.options.publishTimeoutMs, () => this.publishing(batch.length))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Builds the commands of a batch (throwing on an event that cannot be sent) and sends them in one round trip. */
  private send(batch: readonly Envelope[]): Promise<void> {
    const now = Date.now()
    const commands: RedisCommand[] = []
    // Streams appended to, in order, without repeats next to each other (the trimmer dedups the rest).
    const written: string[] = []
    let newTypes: string[] | undefined
    let earliestDue = Number.POSITIVE_INFINITY
    for (const envelope of batch) {
      // The type becomes part of a stream key: checked here, so this transport is safe without the bus too.
      assertPublishable(envelope)
      const payload = encodeEnvelope(envelope, this.options.maxPayloadBytes, `${this.name} tier`)
      const due = envelope.deliverat === undefined ? Number.NaN : Date.parse(envelope.deliverat)
      if (due > now) {
        commands.push(['ZADD', this.keys.delayed, due, payload])
        earliestDue = Math.min(earliestDue, due)
        continue
      }
      const stream = this.keys.stream(envelope.type)
      commands.push(xadd(stream, payload))
      if (written[written.length - 1] !== stream) written.push(stream)
      if (!this.registered.has(envelope.type) && !newTypes?.includes(envelope.type)) {
        newTypes ??= []
        newTypes.push(envelope.type)
      }
    }
    // After the XADDs: a wildcard subscriber that sees a type in the registry finds its stream already there.
    if (newTypes) for (const type of newTypes) commands.push(['SADD', this.keys.types, type])
    const [only] = commands
    const replies: Promise<unknown> =
      only && commands.length === 1 ? this.client.send(only) : this.client.pipeline(commands)
    return replies.then(
      (reply) =>
        this.sent(
          batch.length,
          commands.length === 1 ? undefined : (reply as unknown[]),
          written,
          newTypes,
          earliestDue,
        ),
      (err: unknown) => {
        throw this.publishError(err, batch.length)
      },
    )
  }

  /** After the round trip: notes the writes for trimming, fails on an error reply, announces new types. */
  private sent(
    size: number,
    replies: readonly unknown[] | undefined,
    written: readonly string[],
    newTypes: readonly string[] | undefined,
    earliestDue: number,
  ): Promise<void> | undefined {
    for (const stream of written) this.trimmer.noteWrite(stream)
    // A single command's error reply rejects its promise; a pipeline's come back as values.
    const failed = replies?.find((r) => r instanceof Error)
    if (failed) throw this.publishError(failed, size)
    if (Number.isFinite(earliestDue)) this.delayed.noteDue(earliestDue)
    if (!newTypes || !replies) return undefined
    const announced = newTypes.filter((_, i) => replies[replies.length - newTypes.length + i] === 1)
    for (const type of newTypes) this.registered.add(type)
    return announced.length > 0 ? this.announce(announced) : undefined
  }

  async subscribe(spec: SubscriptionSpec, onBatch: (batch: Delivery[]) => Promise<void>): Promise<Subscription> {
    this.assertOpen()
    let sub: StreamSubscription
    try {
      sub = await StreamSubscription.start(
        {
          client: this.client,
          keys: this.keys,
          options: this.options,
          acks: this.acks,
          stats: this.counters,
          isClosed: () => this.closed,
        },
        spec,
        onBatch,
      )
    } catch (err) {
      throw new TransportError(
        `${this.name}: subscribing group '${spec.group}' to '${spec.pattern}' failed: ${describe(err)}; check that Redis is reachable and is version 7.0 or later`,
        { cause: err },
      )
    }
    this.subscriptions.add(sub)
    if (sub.wantsTypeNotices) await this.listenForTypes()
    this.delayed.start()
    return {
      close: async () => {
        this.subscriptions.delete(sub)
        await sub.close()
      },
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.delayed.stop()
    await Promise.all([...this.subscriptions].map((s) => s.close()))
    this.subscriptions.clear()
    const stop = await this.stopListening?.catch(() => undefined)
    await stop?.().catch(() => {})
    await this.acks.flush()
    await this.trimmer.close().catch(() => {})
    // Before the connections close, so their 'close' events are not reported as an outage.
    this.state.closed()
    await this.client.close()
  }

  private assertOpen(): void {
    if (this.closed)
      throw new TransportError(`${this.name} transport is closed: create a new one`, { retryable: false })
  }

  private publishing(size: number): string {
    return `${this.name}: publishing ${size} event(s)`
  }

  private publishError(err: unknown, size: number): TransportError {
    return new TransportError(
      `${this.publishing(size)} failed (${describe(err)}); check that Redis is reachable (REDIS_URL / UPSTASH_REDIS_REST_URL) — part of the batch may have been published`,
      { cause: err },
    )
  }

  /** Tells wildcard subscriptions, here and in other processes (pub/sub), that types were published for the first time. */
  private async announce(types: readonly string[]): Promise<void> {
    for (const sub of this.subscriptions) for (const type of types) sub.noticeType(type)
    try {
      await this.client.pipeline(types.map((type) => ['PUBLISH', this.keys.typesChannel, type] as const))
    } catch (err) {
      // Only a wake-up hint: periodic discovery finds the stream anyway.
      this.options.onError(err, { operation: 'announce new event types' })
    }
  }

  private async listenForTypes(): Promise<void> {
    if (this.stopListening || !this.client.listen) return
    this.stopListening = this.client.listen(this.keys.typesChannel, (type) => {
      for (const sub of this.subscriptions) sub.noticeType(type)
    })
    try {
      await this.stopListening
    } catch (err) {
      this.options.onError(err, { operation: 'listen for new event types' })
    }
  }
}
