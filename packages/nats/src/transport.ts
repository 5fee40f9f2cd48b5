import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import {
  assertPattern,
  assertPublishable,
  type Capabilities,
  ConfigError,
  type Delivery,
  type Envelope,
  encodeEnvelope,
  isInboxType,
  type Subscription,
  type SubscriptionSpec,
  type Transport,
  TransportError,
  type TransportErrorContext,
} from '@tierbus/core'
import { ConnectionState, withDeadline } from '@tierbus/core/adapter'
import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type KV,
  type NatsConnection,
  nanos,
  type PubAck,
} from 'nats'
import { NatsLink } from './connection.js'
import { JetStreamDeadLetters } from './dead-letters.js'
import { deferralHeaders } from './deferral.js'
import {
  ERR_CONSUMER_NOT_FOUND,
  isNoResponders,
  JetStreamNotEnabledError,
  jetStreamCode,
  transportError,
} from './errors.js'
import { InboxSubscription } from './inbox-subscription.js'
import { type NatsTransportOptions, type ResolvedNatsOptions, resolveOptions } from './options.js'
import { ConsumerOwnership } from './ownership.js'
import { PullSubscription } from './pull-subscription.js'
import { RetentionWatch } from './retention-watch.js'
import { deleteStreams, ensureStreams, planStreams, type StreamPlan, streamFor } from './streams.js'
import { durableName, SubjectMap, subjectWithin } from './subjects.js'

/** A unique member name: host, pid and a random part. */
function memberName(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`
}

/** Bytes kept free under the server's `max_payload` for NATS headers (msg id, dead-letter reason). */
export const HEADER_RESERVE_BYTES = 8_192

/** Capabilities of the NATS tier on a server with `max_payload` bytes (default server: 1 MiB). */
export function natsCapabilities(maxPayload = 1_048_576): Capabilities {
  return Object.freeze({
    persistent: true,
    replay: true,
    // Ordered groups: one member at a time pulls the group's consumer, under an owner record in a KV
    // bucket (see ownership.ts); core keeps one event per key in flight inside that member.
    ordering: 'per-key',
    // Deferred on the consumer side: an early message is nak'ed until its due time (see deferral.ts).
    delay: true,
    maxPayloadBytes: maxPayload - HEADER_RESERVE_BYTES,
  })
}

/** Capabilities on a default nats-server (1 MiB `max_payload`). */
export const NATS_CAPABILITIES: Capabilities = natsCapabilities()

/** The NATS transport, with access to its connection and layout (tests, tooling). */
export interface NatsTransport extends Transport {
  readonly deadLetters: JetStreamDeadLetters
  /** The current connection (shared; do not close it yourself); replaced if the transport had to rebuild it. */
  readonly connection: NatsConnection
  /** Subject prefix and subject mapping. */
  readonly subjects: SubjectMap
  /** Stream names this transport uses (events, then dead letters). */
  readonly streams: readonly string[]
}

/**
 * Connects to NATS, checks JetStream, creates or updates the streams, and returns a tierbus
 * transport: one durable pull consumer per (group, pattern), native wildcards, a DLQ stream, and
 * request-reply inboxes on core NATS. Fails with a ConfigError when JetStream is off or streams overlap.
 */
export async function natsTransport(options: NatsTransportOptions): Promise<NatsTransport> {
  const resolved = resolveOptions(options)
  const subjects = new SubjectMap(resolved.prefix)
  const plan = planStreams(resolved, subjects)
  const servers = Array.isArray(resolved.servers) ? resolved.servers.join(',') : resolved.servers
  const onConnectionError = (err: unknown) => resolved.onError(err, { operation: 'connection' })
  const state = new ConnectionState({ onConnectionState: resolved.onConnectionState, onError: onConnectionError })
  let transport: JetStreamTransport | undefined
  let link: NatsLink
  try {
    const linkOptions = {
      connect: {
        // No stack captured per request: nats.js builds an Error (and a NatsError for its timeout) on every
        // request, each JetStream publish included, which cost ~40 % of a publish's client CPU here. tierbus
        // wraps the client's errors in its own, named after the operation; `connection` can turn them back on.
        noAsyncTraces: true,
        ...resolved.connection,
        servers: resolved.servers,
        name: resolved.name,
        pingInterval: resolved.pingIntervalMs,
        maxReconnectAttempts: resolved.maxReconnectAttempts,
        timeout: resolved.connectTimeoutMs,
      },
      backoff: resolved.reconnectBackoff,
      state,
      onError: onConnectionError,
      onRebuilt: (nc: NatsConnection) => transport?.resume(nc) ?? Promise.resolve(),
    }
    link = resolved.client ? NatsLink.adopt(resolved.client, linkOptions) : await NatsLink.open(linkOptions)
  } catch (err) {
    state.closed()
    throw new TransportError(
      `cannot connect to NATS at ${servers}: ${(err as Error).message}; is nats-server running there (nats-server -js), and is NATS_URL right?`,
      { cause: err },
    )
  }
  try {
    let jsm: JetStreamManager
    try {
      jsm = await link.connection.jetstreamManager()
    } catch (err) {
      if (isNoResponders(err)) throw new JetStreamNotEnabledError(servers, { cause: err })
      throw transportError('checking JetStream', err)
    }
    await ensureStreams(jsm, plan)
    transport = new JetStreamTransport(link, jsm, state, resolved, subjects, plan)
    return transport
  } catch (err) {
    await link.close(resolved.publishTimeoutMs)
    throw err
  }
}

/** A subscription the transport can re-open on a rebuilt connection (same spec, same `onBatch`). */
interface ResumableSubscription {
  readonly spec: SubscriptionSpec
  current: Subscription
  /** Opens the subscription on the transport's current connection. */
  open(): Promise<Subscription>
}

class JetStreamTransport implements NatsTransport {
  readonly name = 'nats'
  readonly capabilities: Capabilities
  readonly deadLetters: JetStreamDeadLetters
  readonly streams: readonly string[]
  private js: JetStreamClient
  private jsm: JetStreamManager
  private readonly subscriptions = new Set<ResumableSubscription>()
  /** Event type → does a stream hold it (cached, types repeat). */
  private readonly stored = new Map<string, boolean>()
  private closing: Promise<void> | undefined
  private readonly retention: RetentionWatch
  /** KV buckets of ordered groups' owners this transport used (deleted with the streams in tests). */
  private readonly ownerBuckets = new Set<string>()

  constructor(
    private readonly link: NatsLink,
    jsm: JetStreamManager,
    private readonly state: ConnectionState,
    private readonly options: ResolvedNatsOptions,
    readonly subjects: SubjectMap,
    private readonly plan: StreamPlan,
  ) {
    this.capabilities = natsCapabilities(link.connection.info?.max_payload ?? 1_048_576)
    this.jsm = jsm
    this.js = this.jetStreamOf(link.connection)
    this.deadLetters = new JetStreamDeadLetters(this.js, jsm, subjects, plan.deadLetters.name)
    this.streams = [...plan.events.map((s) => s.name), plan.deadLetters.name]
    this.retention = new RetentionWatch(
      () => this.jsm,
      options.retentionCheckMs,
      (err) => this.reportError(err, { operation: 'retention' }),
    )
  }

  /** Messages the streams' limits (`max_age`, `max_bytes`) removed before a group of this transport acked them. */
  trimmedUnread(): number {
    return this.retention.trimmedUnread
  }

  get connection(): NatsConnection {
    return this.link.connection
  }

  /**
   * Moves onto a connection the link rebuilt after the client gave up: new JetStream clients, streams
   * checked again, and every subscription re-opened (durable consumers keep their place on the server).
   * Rejects when any step fails, so the link retries the whole move on a fresh connection.
   */
  async resume(nc: NatsConnection): Promise<void> {
    if (this.closing) return
    this.jsm = await nc.jetstreamManager()
    this.js = this.jetStreamOf(nc)
    this.deadLetters.rebind(this.js, this.jsm)
    await ensureStreams(this.jsm, this.plan)
    for (const sub of this.subscriptions) {
      await sub.current.close().catch(() => {})
      if (this.closing) return
      try {
        sub.current = await sub.open()
      } catch (err) {
        // Thrown to the link, which closes this connection and tries again with backoff.
        throw transportError(
          `re-opening the subscription of group ${sub.spec.group} (${sub.spec.pattern}) after a reconnect`,
          err,
        )
      }
    }
  }

  async publish(batch: readonly Envelope[]): Promise<void> {
    this.assertOpen()
    // Encode (and size-check) everything first, so an oversized event rejects the batch before any send.
    const encoded = batch.map((envelope) => {
      // nats.js 2.x writes subjects to the wire unchecked: a space, CR or LF in a type would inject protocol.
      assertPublishable(envelope)
      const subject = this.subjects.subjectFor(envelope.type)
      if (!isInboxType(envelope.type)) this.assertStored(envelope.type, subject)
      return { envelope, subject, body: encodeEnvelope(envelope, this.capabilities.maxPayloadBytes, 'NATS') }
    })
    await withDeadline(
      this.send(encoded),
      this.options.publishTimeoutMs,
      () => `NATS publish of ${batch.length} event(s)`,
    )
  }

  private async send(encoded: ReadonlyArray<{ envelope: Envelope; subject: string; body: string }>): Promise<void> {
    const acks: Promise<PubAck>[] = []
    let core = false
    for (const { envelope, subject, body } of encoded) {
      if (isInboxType(envelope.type)) {
        this.connection.publish(subject, body)
        core = true
        continue
      }
      const headers = deferralHeaders(envelope)
      acks.push(
        this.js.publish(subject, body, {
          ...(this.options.dedupe ? { msgID: envelope.id } : {}),
          ...(headers ? { headers } : {}),
        }),
      )
    }
    try {
      // All sends are in flight at once (pipelined); each resolves on its PubAck.
      await Promise.all(core ? [...acks, this.connection.flush()] : acks)
    } catch (err) {
      if (isNoResponders(err)) {
        throw new TransportError(
          `NATS publish failed: no JetStream stream answered (was stream ${this.streams.join('/')} deleted, or is JetStream down?)`,
          { cause: err },
        )
      }
      throw transportError('publish', err)
    }
  }

  async subscribe(spec: SubscriptionSpec, onBatch: (batch: Delivery[]) => Promise<void>): Promise<Subscription> {
    this.assertOpen()
    assertPattern(spec.pattern)
    const onError = (err: unknown) => this.reportError(err, { operation: 'subscription', group: spec.group })
    let open: () => Promise<Subscription>
    let onClosed: (() => Promise<void>) | undefined
    if (spec.ephemeral && isInboxType(spec.pattern)) {
      open = async () =>
        new InboxSubscription(
          this.connection,
          this.subjects.subjectFor(spec.pattern),
          spec,
          onBatch,
          this.deadLetters,
          onError,
        )
    } else {
      const filter = this.subjects.subjectFor(spec.pattern)
      const stream = streamFor(this.plan, filter, spec.pattern)
      const durable = durableName(spec.group, spec.pattern)
      await this.ensureConsumer(stream, durable, filter, spec)
      let first = true
      open = async () => {
        // After a rebuild the server may have lost the consumer (memory storage): make sure it is there.
        if (!first) await this.ensureConsumer(stream, durable, filter, spec)
        first = false
        const ctx = {
          connection: this.connection,
          stream,
          durable,
          deadLetters: this.deadLetters,
          fetchExpiresMs: this.options.fetchExpiresMs,
          onError,
          isClosed: () => this.closing !== undefined,
        }
        if (!spec.ordered) return new PullSubscription(spec, onBatch, ctx)
        const bucket = await this.ownersBucket(stream)
        let pull: PullSubscription | undefined
        const ownership = new ConsumerOwnership(
          bucket,
          () => this.jsm,
          stream,
          durable,
          memberName(),
          spec.leaseMs,
          () => pull?.wake(),
          onError,
        )
        pull = new PullSubscription(spec, onBatch, {
          ...ctx,
          pullWindowMs: () => ownership.pullWindowMs(),
          onClose: () => ownership.release(),
        })
        ownership.start()
        return pull
      }
      if (spec.ephemeral) onClosed = () => this.deleteConsumer(stream, durable)
      else {
        this.retention.watch(stream, durable)
        onClosed = async () => this.retention.unwatch(stream, durable)
      }
    }
    const sub: ResumableSubscription = { spec, current: await open(), open }
    this.subscriptions.add(sub)
    return {
      close: async () => {
        this.subscriptions.delete(sub)
        await sub.current.close()
        await onClosed?.()
      },
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.retention.stop()
      await Promise.all([...this.subscriptions].map((s) => s.current.close().catch(() => {})))
      this.subscriptions.clear()
      if (this.options.deleteStreamsOnClose && !this.connection.isClosed()) {
        const all = [...this.streams, ...[...this.ownerBuckets].map((b) => `KV_${b}`)]
        await withDeadline(
          deleteStreams(this.jsm, all),
          this.options.publishTimeoutMs,
          'deleting the streams on close',
        ).catch(() => {})
      }
      await this.link.close(this.options.publishTimeoutMs)
    })()
    return this.closing
  }

  /** The KV bucket holding the owners of ordered groups' consumers on `stream` (created on first use). */
  private async ownersBucket(stream: string): Promise<KV> {
    const name = `${stream}_OWNERS`
    this.ownerBuckets.add(name)
    try {
      return await this.js.views.kv(name, { history: 1, description: `tierbus: owners of ordered groups on ${stream}` })
    } catch (err) {
      throw transportError(`opening the owners bucket ${name} of ordered groups`, err)
    }
  }

  /** The JetStream client of a connection; its requests time out with the publish deadline. */
  private jetStreamOf(nc: NatsConnection): JetStreamClient {
    return nc.jetstream({ timeout: this.options.publishTimeoutMs })
  }

  /**
   * Reports a background error (a failed pull, a lost subscription) to `onError`. While the
   * connection is not up they are consequences of the outage `onConnectionState` already reported,
   * and a pull loop retrying every 500 ms would repeat them, so they are dropped.
   */
  private reportError(err: unknown, context: TransportErrorContext): void {
    if (this.state.current !== 'up') return
    try {
      this.options.onError(err, context)
    } catch {
      // a throwing listener must not break the pull loop
    }
  }

  /**
   * Creates the group's durable (first member), or updates its ack wait and pending limit (later
   * members). The start position is fixed at creation: a group that exists keeps its place.
   */
  private async ensureConsumer(stream: string, durable: string, filter: string, spec: SubscriptionSpec): Promise<void> {
    const ackWait = nanos(spec.leaseMs)
    // Core decides when to give up (it dead-letters); JetStream must never drop a message silently.
    const maxAckPending = Math.max(this.options.maxAckPending, spec.maxInFlight)
    const config: Partial<ConsumerConfig> = {
      durable_name: durable,
      description: `tierbus group ${spec.group} on ${spec.pattern}`,
      filter_subject: filter,
      ack_policy: AckPolicy.Explicit,
      ack_wait: ackWait,
      max_deliver: -1,
      max_ack_pending: maxAckPending,
    }
    try {
      const existing = await this.jsm.consumers.info(stream, durable).catch((err) => {
        if (jetStreamCode(err) === ERR_CONSUMER_NOT_FOUND) return undefined
        throw err
      })
      if (existing) {
        if (existing.config.filter_subject !== filter) {
          throw new ConfigError(
            `consumer ${durable} on stream ${stream} filters ${existing.config.filter_subject ?? '(nothing)'}, not ${filter}: delete it (nats consumer rm ${stream} ${durable})`,
          )
        }
        if (
          existing.config.ack_wait !== config.ack_wait ||
          existing.config.max_ack_pending !== config.max_ack_pending
        ) {
          await this.jsm.consumers.update(stream, durable, { ack_wait: ackWait, max_ack_pending: maxAckPending })
        }
        return
      }
      await this.jsm.consumers.add(stream, {
        ...config,
        deliver_policy: spec.startFrom === 'earliest' ? DeliverPolicy.All : DeliverPolicy.New,
      })
    } catch (err) {
      throw transportError(`creating consumer ${durable} for group ${spec.group} on stream ${stream}`, err)
    }
  }

  private async deleteConsumer(stream: string, durable: string): Promise<void> {
    if (this.connection.isClosed()) return
    await this.jsm.consumers.delete(stream, durable).catch(() => {})
  }

  private assertStored(type: string, subject: string): void {
    let ok = this.stored.get(type)
    if (ok === undefined) {
      ok = this.plan.events.some((s) => s.subjects.some((pattern) => subjectWithin(subject, pattern)))
      this.stored.set(type, ok)
    }
    if (!ok) {
      throw new TransportError(
        `no JetStream stream holds event type '${type}' (subject ${subject}): the streams are ${this.plan.events.map((s) => `${s.name} (${s.subjects.join(', ')})`).join('; ')}; add a stream family whose types cover it`,
        { retryable: false },
      )
    }
  }

  private assertOpen(): void {
    if (this.closing)
      throw new TransportError('the NATS transport is closed: create a new one with natsTransport()', {
        retryable: false,
      })
  }
}
