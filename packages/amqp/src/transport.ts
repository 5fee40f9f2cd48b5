import {
  assertPattern,
  assertPublishable,
  type Capabilities,
  type Delivery,
  type Envelope,
  encodeEnvelope,
  isInboxType,
  type Subscription,
  type SubscriptionSpec,
  type Transport,
  TransportError,
  type TransportErrorContext,
  ValidationError,
} from '@tierbus/core'
import { ConnectionState, withDeadline } from '@tierbus/core/adapter'
import type { ChannelModel } from 'amqplib'
import { AmqpDeadLetters } from './dead-letters.js'
import { UnroutableError } from './errors.js'
import { TIERBUS_HEADERS } from './headers.js'
import { AmqpLink } from './link.js'
import { MAX_WAIT_MS, Names, waitBucket } from './names.js'
import { type AmqpTransportOptions, type ResolvedAmqpOptions, resolveOptions } from './options.js'
import type { OutgoingMessage } from './publisher.js'
import { AmqpSubscription } from './subscription.js'
import { Topology, waitTag } from './topology.js'

/** Capabilities of the AMQP tier with a payload limit of `maxPayloadBytes`. */
export function amqpCapabilities(maxPayloadBytes: number): Capabilities {
  return Object.freeze({
    persistent: true,
    // A group's quorum queue holds what was published after it was declared; history for a new group
    // would need a RabbitMQ stream next to the queues, which this tier does not keep.
    replay: false,
    ordering: 'per-key',
    delay: true,
    maxPayloadBytes,
  })
}

/** The AMQP transport, with access to its layout (tests, tooling). */
export interface AmqpTransport extends Transport {
  readonly deadLetters: AmqpDeadLetters
  /** Exchange and queue names. */
  readonly names: Names
  /** The live amqplib connection, if up (shared: do not close it yourself). */
  readonly connection: ChannelModel | undefined
}

/**
 * Connects to RabbitMQ and returns a tierbus transport: one topic exchange per bus (routing key = event
 * type, NATS patterns as binding keys), one durable quorum queue per (group, pattern) with competing
 * consumers and `prefetch = maxInFlight`, publisher confirms, retries and delayed events through
 * per-delay TTL queues, a dead-letter queue per group, per-key order over consistent-hash partitions,
 * and request-reply inboxes on private queues. Reconnects by itself for as long as it is open.
 */
export async function amqpTransport(options: AmqpTransportOptions): Promise<AmqpTransport> {
  const resolved = resolveOptions(options)
  const onConnectionError = (err: unknown) => resolved.onError(err, { operation: 'connection' })
  const state = new ConnectionState({
    ...(resolved.onConnectionState ? { onConnectionState: resolved.onConnectionState } : {}),
    onError: onConnectionError,
  })
  const topology = new Topology(new Names(resolved.prefix), resolved)
  let transport: RabbitTransport | undefined
  let link: AmqpLink
  try {
    link = await AmqpLink.open({
      url: resolved.url,
      connectionName: resolved.connectionName,
      heartbeatSeconds: resolved.heartbeatSeconds,
      backoff: resolved.reconnectBackoff,
      socketOptions: resolved.socketOptions,
      state,
      onError: onConnectionError,
      onConnected: async ({ connection, consumer }) => {
        topology.reset()
        await topology.declareBase(connection)
        await transport?.resume(consumer)
      },
    })
  } catch (err) {
    state.closed()
    throw new TransportError(
      `cannot connect to RabbitMQ at ${redactUrl(resolved.url)}: ${(err as Error).message}; ` +
        'is the broker running there, and are AMQP_URL and its credentials right?',
      { cause: err },
    )
  }
  transport = new RabbitTransport(link, topology, resolved)
  return transport
}

class RabbitTransport implements AmqpTransport {
  readonly name = 'amqp'
  readonly capabilities: Capabilities
  readonly deadLetters: AmqpDeadLetters
  readonly names: Names
  private readonly subscriptions = new Set<AmqpSubscription>()
  private closing: Promise<void> | undefined

  constructor(
    private readonly link: AmqpLink,
    private readonly topology: Topology,
    private readonly options: ResolvedAmqpOptions,
  ) {
    this.capabilities = amqpCapabilities(options.maxPayloadBytes)
    this.names = topology.names
    this.deadLetters = new AmqpDeadLetters(link, topology)
  }

  get connection(): ChannelModel | undefined {
    return this.link.now?.connection
  }

  /** Re-opens every subscription on a new consumer connection (queues are durable: they kept their messages). */
  async resume(consumer: ChannelModel): Promise<void> {
    for (const sub of this.subscriptions) await sub.open(consumer)
  }

  async publish(batch: readonly Envelope[]): Promise<void> {
    this.assertOpen()
    if (batch.length === 0) return
    // Encode and check everything first, so a bad event rejects the batch before any send.
    const now = Date.now()
    const messages = batch.map((envelope) => this.outgoing(envelope, now))
    const timeout = this.options.publishTimeoutMs
    await withDeadline(
      this.send(messages, Date.now() + timeout),
      timeout,
      () => `AMQP publish of ${batch.length} event(s)`,
    )
  }

  private outgoing(envelope: Envelope, now: number): OutgoingMessage & { delayBucket: number } {
    assertPublishable(envelope)
    const content = Buffer.from(encodeEnvelope(envelope, this.capabilities.maxPayloadBytes, 'AMQP'))
    const properties = {
      messageId: envelope.id,
      persistent: true,
      contentType: 'application/cloudevents+json',
      headers: { [TIERBUS_HEADERS.key]: envelope.subject ?? envelope.id } as Record<string, unknown>,
    }
    if (isInboxType(envelope.type)) {
      // A reply goes straight to the requester's private queue (never through the topic exchange, so no
      // '>' subscription sees it); unroutable once the requester gave up, and then dropped.
      return {
        exchange: '',
        routingKey: this.names.inboxQueue(envelope.type),
        content,
        properties,
        what: `a reply to ${envelope.type}`,
        delayBucket: 0,
      }
    }
    const due = envelope.deliverat === undefined ? Number.NaN : Date.parse(envelope.deliverat)
    const delay = due - now
    if (delay > 0) {
      if (delay > MAX_WAIT_MS)
        throw new ValidationError(
          `AMQP tier: delayMs ${delay} is longer than the longest wait it offers (${MAX_WAIT_MS} ms): ` +
            'schedule the event later instead',
        )
      const bucket = waitBucket(delay)
      properties.headers[TIERBUS_HEADERS.wait] = waitTag('delay', bucket)
      return {
        exchange: this.names.waitExchange,
        routingKey: envelope.type,
        content,
        properties,
        mandatory: true,
        what: `delayed event ${envelope.type}`,
        delayBucket: bucket,
      }
    }
    return {
      exchange: this.names.exchange,
      routingKey: envelope.type,
      content,
      properties,
      what: `event ${envelope.type}`,
      delayBucket: 0,
    }
  }

  /** Sends on the live connection, waiting for a reconnect; not at all once `until` passed (publish rejected). */
  private async send(messages: Array<OutgoingMessage & { delayBucket: number }>, until: number): Promise<void> {
    const { connection, publisher } = await this.link.current()
    if (Date.now() >= until) return
    for (const m of messages) if (m.delayBucket > 0) await this.topology.ensureWait(connection, 'delay', m.delayBucket)
    // All in flight at once (pipelined); each resolves on its confirm. Only a delayed event can come back
    // unroutable, so only it gets a handler of its own (one promise per event less on the common path).
    const confirms = messages.map((m) => {
      const confirmed = publisher.publish(m)
      return m.delayBucket > 0 ? confirmed.catch((err: unknown) => this.unroutable(err, m)) : confirmed
    })
    // The messages (and their content buffers) are with the channel now: dropped here, not kept alive
    // until the last confirm (a batch of 1,000 ~1 KB events survived young-generation GCs that way).
    messages.length = 0
    await Promise.all(confirms)
  }

  /** A delayed event came back: its TTL queue was deleted; the next delayed publish declares it again. */
  private unroutable(err: unknown, m: { delayBucket: number }): never {
    if (err instanceof UnroutableError && m.delayBucket > 0) this.topology.forgetWait('delay', m.delayBucket)
    throw err
  }

  async subscribe(spec: SubscriptionSpec, onBatch: (batch: Delivery[]) => Promise<void>): Promise<Subscription> {
    this.assertOpen()
    assertPattern(spec.pattern)
    const t = this.topology
    const plan = spec.ephemeral
      ? t.ephemeralPlan(
          isInboxType(spec.pattern)
            ? this.names.inboxQueue(spec.pattern)
            : `${this.names.groupQueue(spec.group, spec.pattern)}.${Date.now().toString(36)}`,
          isInboxType(spec.pattern) ? undefined : spec.pattern,
        )
      : spec.ordered
        ? t.orderedPlan(spec.group, spec.pattern)
        : t.groupPlan(spec.group, spec.pattern)
    const sub = new AmqpSubscription(spec, onBatch, plan, {
      group: spec.group,
      link: this.link,
      topology: t,
      deadLetters: this.deadLetters,
      leaseMs: spec.leaseMs,
      isClosed: () => this.closing !== undefined,
      backoff: this.options.reconnectBackoff,
      onError: (err) => this.reportError(err, { operation: 'subscription', group: spec.group }),
    })
    const { consumer } = await this.link.current()
    await sub.open(consumer)
    this.subscriptions.add(sub)
    return {
      close: async () => {
        this.subscriptions.delete(sub)
        await sub.close()
      },
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown()
    return this.closing
  }

  private async shutDown(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.close().catch(() => {})))
    this.subscriptions.clear()
    const live = this.link.now
    if (this.options.deleteOnClose && live) {
      await withDeadline(
        this.topology.deleteAll(live.connection),
        this.options.publishTimeoutMs,
        'deleting the topology on close',
      ).catch(() => {})
    }
    await this.link.close()
  }

  /** Background errors go to `onError`, except while the connection is down (the outage was reported once). */
  private reportError(err: unknown, context: TransportErrorContext): void {
    if (!this.link.now) return
    try {
      this.options.onError(err, context)
    } catch {
      // a throwing listener must not break the consumer
    }
  }

  private assertOpen(): void {
    if (this.closing)
      throw new TransportError('the AMQP transport is closed: create a new one with amqpTransport()', {
        retryable: false,
      })
  }
}

/** The URL without its password, for error messages. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@')
}
