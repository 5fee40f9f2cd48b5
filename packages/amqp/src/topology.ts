import { ConfigError } from '@tierbus/core'
import type { Channel, ChannelModel, Options } from 'amqplib'
import { replyCode, transportError } from './errors.js'
import { TIERBUS_HEADERS } from './headers.js'
import { bindingKey, type Names, type WaitKind } from './names.js'

/** How a subscription's queues are laid out on the broker. */
export interface QueuePlan {
  /** The queues the subscription consumes from (one, or the partitions of an ordered group). */
  readonly queues: readonly string[]
  /** Declares them (idempotent; run again after every reconnect). */
  declare(connection: ChannelModel): Promise<void>
  /** Deletes them (an ephemeral subscription closing). */
  remove?(connection: ChannelModel): Promise<void>
  /** Single-active-consumer queues (an ordered group): the next member takes over when this one's consumer goes. */
  readonly singleActiveConsumer?: boolean
}

/** Settings of the declared topology. */
export interface TopologyOptions {
  readonly deliveryLimit: number
  readonly orderedPartitions: number
}

/** Arguments of durable quorum queues (the only replicated type on RabbitMQ 4 / Amazon MQ). */
const QUORUM = Object.freeze({ 'x-queue-type': 'quorum' })
/** At-least-once dead-lettering out of a quorum queue (requires `reject-publish` overflow). */
const SAFE_DEAD_LETTERING = Object.freeze({ 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' })

/**
 * Declares the exchanges and queues of one transport, always on a short-lived channel of its own: a
 * refused declaration (a queue that exists with other arguments) closes the channel it ran on, and
 * must not take the publisher's channel with it. Remembers what it declared for `deleteAll`.
 */
export class Topology {
  private readonly exchanges = new Set<string>()
  private readonly queues = new Set<string>()
  /** Wait queues declared on the current connection (re-declared after a reconnect, idempotently). */
  private waits = new Map<string, Promise<void>>()

  constructor(
    readonly names: Names,
    private readonly options: TopologyOptions,
  ) {}

  /** Forgets per-connection state (a new connection declares the wait queues again on first use). */
  reset(): void {
    this.waits = new Map()
  }

  /** The bus's topic exchange and the wait exchange. */
  async declareBase(connection: ChannelModel): Promise<void> {
    await this.on(connection, 'declaring the exchanges', async (ch) => {
      await ch.assertExchange(this.names.exchange, 'topic', { durable: true })
      await ch.assertExchange(this.names.waitExchange, 'headers', { durable: true })
    })
    this.exchanges.add(this.names.exchange).add(this.names.waitExchange)
  }

  /**
   * One quorum queue for (group, pattern), bound to the topic exchange, dead-lettering its over-delivered
   * messages into the group's DLQ.
   */
  groupPlan(group: string, pattern: string): QueuePlan {
    const queue = this.names.groupQueue(group, pattern)
    return {
      queues: [queue],
      declare: (connection) =>
        this.on(connection, `declaring queue ${queue} of group ${group}`, async (ch) => {
          await this.assertDeadLetterQueue(ch, group)
          await this.assertQueue(ch, queue, this.groupQueueArguments(group))
          await ch.bindQueue(queue, this.names.exchange, bindingKey(pattern))
        }),
    }
  }

  /**
   * An ordered group: the topic exchange feeds a consistent-hash exchange (hashing the `tierbus-key`
   * header) that spreads keys over `orderedPartitions` single-active-consumer quorum queues. Every key
   * lives in one partition and every partition has one active consumer, so a key's events are handled
   * in order by one member at a time; other members take over a partition when its consumer goes.
   */
  orderedPlan(group: string, pattern: string): QueuePlan {
    const hash = this.names.hashExchange(group, pattern)
    const queues = Array.from({ length: this.options.orderedPartitions }, (_, i) =>
      this.names.partition(group, pattern, i),
    )
    return {
      queues,
      singleActiveConsumer: true,
      declare: (connection) =>
        this.on(connection, `declaring the ordered partitions of group ${group}`, async (ch) => {
          await this.assertDeadLetterQueue(ch, group)
          try {
            await ch.assertExchange(hash, 'x-consistent-hash', {
              durable: true,
              arguments: { 'hash-header': TIERBUS_HEADERS.key },
            })
          } catch (err) {
            if (replyCode(err) === 503 || /x-consistent-hash/.test(String(err))) {
              throw new ConfigError(
                "ordered subscriptions need RabbitMQ's consistent-hash exchange: run 'rabbitmq-plugins enable " +
                  "rabbitmq_consistent_hash_exchange' on the broker (it ships with RabbitMQ, and Amazon MQ for " +
                  'RabbitMQ supports it)',
                { cause: err },
              )
            }
            throw err
          }
          this.exchanges.add(hash)
          await ch.bindExchange(hash, this.names.exchange, bindingKey(pattern))
          for (const q of queues) {
            await this.assertQueue(ch, q, { ...this.groupQueueArguments(group), 'x-single-active-consumer': true })
            await ch.bindQueue(q, hash, '1')
          }
        }),
    }
  }

  /** A private queue of one connection (request-reply inboxes, ephemeral subscriptions), deleted when it closes. */
  ephemeralPlan(queue: string, pattern: string | undefined): QueuePlan {
    return {
      queues: [queue],
      declare: (connection) =>
        this.on(connection, `declaring private queue ${queue}`, async (ch) => {
          await ch.assertQueue(queue, { exclusive: true, autoDelete: true, durable: false })
          if (pattern !== undefined) await ch.bindQueue(queue, this.names.exchange, bindingKey(pattern))
        }),
      remove: (connection) =>
        this.on(connection, `deleting private queue ${queue}`, (ch) => ch.deleteQueue(queue).then(() => {})),
    }
  }

  /**
   * The TTL queue for a wait of `ms` (one of `WAIT_BUCKETS_MS`), declared once per connection. It is
   * bound to the wait exchange by the `tierbus-wait` header and dead-letters what expires: a `retry`
   * back to the queue named by the routing key (default exchange), a `delay` to the topic exchange
   * under the event type.
   */
  ensureWait(connection: ChannelModel, kind: WaitKind, ms: number): Promise<void> {
    const queue = this.names.waitQueue(kind, ms)
    let declared = this.waits.get(queue)
    if (!declared) {
      declared = this.on(connection, `declaring wait queue ${queue}`, async (ch) => {
        await this.assertQueue(ch, queue, {
          ...QUORUM,
          ...SAFE_DEAD_LETTERING,
          'x-message-ttl': ms,
          'x-dead-letter-exchange': kind === 'retry' ? '' : this.names.exchange,
        })
        await ch.bindQueue(queue, this.names.waitExchange, '', {
          'x-match': 'all',
          [TIERBUS_HEADERS.wait]: waitTag(kind, ms),
        })
      })
      this.waits.set(queue, declared)
      declared.catch(() => this.waits.delete(queue))
    }
    return declared
  }

  /** Forgets that a TTL queue was declared (it came back unroutable: deleted), so its next use declares it again. */
  forgetWait(kind: WaitKind, ms: number): void {
    this.waits.delete(this.names.waitQueue(kind, ms))
  }

  /** Declares a group's dead-letter queue (for listing when the group never subscribed here). */
  declareDeadLetterQueue(connection: ChannelModel, group: string): Promise<void> {
    return this.on(connection, `declaring the dead-letter queue of group ${group}`, (ch) =>
      this.assertDeadLetterQueue(ch, group),
    )
  }

  /** The dead-letter queues this transport declared (the groups it knows). */
  get deadLetterQueues(): string[] {
    return [...this.queues].filter((q) => q.startsWith(`${this.names.prefix}.dlq.`))
  }

  /** Deletes every queue and exchange this transport declared (tests' cleanup). */
  async deleteAll(connection: ChannelModel): Promise<void> {
    await this.on(connection, 'deleting the topology', async (ch) => {
      for (const q of this.queues) await ch.deleteQueue(q)
      for (const x of this.exchanges) await ch.deleteExchange(x)
    })
  }

  private groupQueueArguments(group: string): Options.AssertQueue['arguments'] {
    return {
      ...QUORUM,
      ...SAFE_DEAD_LETTERING,
      'x-delivery-limit': this.options.deliveryLimit,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': this.names.deadLetterQueue(group),
    }
  }

  private async assertDeadLetterQueue(ch: Channel, group: string): Promise<void> {
    // A listing reads dead letters with basic.get and hands them back: no delivery limit may drop them.
    await this.assertQueue(ch, this.names.deadLetterQueue(group), { ...QUORUM, 'x-delivery-limit': 1_000_000_000 })
  }

  private async assertQueue(ch: Channel, queue: string, args: Options.AssertQueue['arguments']): Promise<void> {
    try {
      await ch.assertQueue(queue, { durable: true, arguments: args })
    } catch (err) {
      if (replyCode(err) === 406) {
        throw new ConfigError(
          `queue ${queue} exists on the broker with other arguments than tierbus declares ` +
            `(${String((err as Error).message)}): delete it (rabbitmqctl delete_queue ${queue}) or use another prefix`,
          { cause: err },
        )
      }
      throw err
    }
    this.queues.add(queue)
  }

  /** Runs `work` on a fresh channel, closed afterwards; failures become TransportErrors naming `what`. */
  private async on<T>(connection: ChannelModel, what: string, work: (ch: Channel) => Promise<T>): Promise<T> {
    let ch: Channel
    try {
      ch = await connection.createChannel()
    } catch (err) {
      throw transportError(`${what} (opening a channel)`, err)
    }
    ch.on('error', () => {})
    try {
      return await work(ch)
    } catch (err) {
      throw transportError(what, err)
    } finally {
      await ch.close().catch(() => {})
    }
  }
}

/** The `tierbus-wait` header value routing to one TTL queue. */
export function waitTag(kind: WaitKind, ms: number): string {
  return `${kind}-${ms}`
}
