import { randomUUID } from 'node:crypto'
import { PublishCommand } from '@aws-sdk/client-sns'
import {
  type Capabilities,
  type Delivery,
  type Envelope,
  type Subscription,
  type SubscriptionSpec,
  type Transport,
  TransportError,
} from '@tierbus/core'
import { type AckCoalescer, ConnectionState, withDeadline } from '@tierbus/core/adapter'
import { deleteCoalescer } from './ack-batcher.js'
import { TYPE_ATTRIBUTE } from './attributes.js'
import { transportError } from './aws-errors.js'
import { watchConnection } from './connection-state.js'
import { SqsDeadLetters } from './dead-letters.js'
import { fifoId } from './names.js'
import {
  createClients,
  type ResolvedSqsOptions,
  resolveOptions,
  type SqsClients,
  type SqsTransportOptions,
} from './options.js'
import {
  deleteEphemeral,
  deleteNamespace,
  ensureTopic,
  findTopic,
  lookupQueue,
  type ProvisionedQueue,
  provisionQueue,
} from './provision.js'
import { MAX_ENVELOPE_BYTES, TopicPublisher } from './publisher.js'
import { QueuePoller } from './queue-poller.js'
import {
  describeInfrastructure,
  type InfrastructureDescription,
  planQueue,
  type SubscriptionDeclaration,
} from './topology.js'

/** Tier 3 (standard topic and queues): durable, at-least-once, no order, delay deferred on receipt, 256 KiB messages (the SNS limit). */
export const SQS_CAPABILITIES: Capabilities = Object.freeze({
  persistent: true,
  replay: false,
  ordering: 'none',
  delay: true,
  maxPayloadBytes: MAX_ENVELOPE_BYTES,
})

/** Tier 3 FIFO variant: per-key order through MessageGroupId = the event's key. */
export const SQS_FIFO_CAPABILITIES: Capabilities = Object.freeze({ ...SQS_CAPABILITIES, ordering: 'per-key' })

/** The SQS/SNS transport: the SPI plus provisioning, infrastructure description and DLQ access. */
export interface SqsTransport extends Transport {
  readonly deadLetters: SqsDeadLetters
  /** The namespace prefix (topic `<prefix>-events`, queues `<prefix>-...`). */
  readonly prefix: string
  readonly fifo: boolean
  /** Creates or verifies the topic and, for each declared subscription, its queue, DLQ, policy and SNS subscription. Idempotent. */
  provision(subscriptions?: readonly SubscriptionDeclaration[]): Promise<void>
  /** What production needs for these subscriptions (for CloudFormation/CDK/Terraform); `.text` is printable. */
  describeInfrastructure(subscriptions: readonly SubscriptionDeclaration[]): InfrastructureDescription
  /** The namespace topic's ARN (found, or created when provisioning). */
  topicArn(): Promise<string>
  /** Publishes `body` as-is with the `type` attribute (tools and tests of the poison path; bypasses envelope checks). */
  publishRaw(type: string, body: string): Promise<void>
  /** Deletes the namespace's queues, subscriptions and topic, with every pending event and dead letter (tests, preview environments). */
  deleteNamespace(): Promise<void>
}

/**
 * Tier 3: one SNS topic per namespace fanned out to one SQS queue per (group, pattern), each with a
 * DLQ. Wildcards become `prefix` filter policies narrowed by the consumer. See the package README.
 */
export async function sqsTransport(options: SqsTransportOptions = {}): Promise<SqsTransport> {
  return new SqsSnsTransport(options)
}

class SqsSnsTransport implements SqsTransport {
  readonly name: string
  readonly capabilities: Capabilities
  readonly deadLetters: SqsDeadLetters
  readonly prefix: string
  readonly fifo: boolean
  readonly orderingHint: string | undefined
  private readonly options: ResolvedSqsOptions
  private readonly clients: SqsClients
  private readonly acks: AckCoalescer<string>
  private readonly publisher: TopicPublisher
  private readonly queues = new Map<string, Promise<ProvisionedQueue>>()
  private readonly pollers = new Set<QueuePoller>()
  private topic: Promise<string> | undefined
  private closed = false
  private readonly state: ConnectionState
  private readonly unwatch: () => void

  constructor(options: SqsTransportOptions) {
    this.options = resolveOptions(options)
    this.prefix = this.options.prefix
    this.fifo = this.options.fifo
    this.name = this.fifo ? 'sqs-fifo' : 'sqs'
    this.capabilities = this.fifo ? SQS_FIFO_CAPABILITIES : SQS_CAPABILITIES
    this.orderingHint = this.fifo
      ? undefined
      : 'create the transport with sqsTransport({ fifo: true }) (env TIERBUS_SQS_FIFO=true): FIFO queues keep per-key order'
    this.clients = createClients(options)
    this.acks = deleteCoalescer(this.clients, this.options.ackWindowMs)
    this.publisher = new TopicPublisher(this.clients, () => this.topicArn(), this.fifo, this.options.publishConcurrency)
    this.deadLetters = new SqsDeadLetters(this.clients, this.prefix, this.fifo)
    // HTTP: nothing is known until the first call; it reports up or down.
    this.state = new ConnectionState({
      onConnectionState: options.onConnectionState,
      onError: (err) => this.options.onError(err, { operation: 'connection' }),
    })
    this.unwatch = watchConnection(this.clients, this.state)
  }

  topicArn(): Promise<string> {
    if (!this.topic) {
      const find = this.options.provision ? ensureTopic : findTopic
      this.topic = find(this.clients, this.prefix, this.fifo)
      // A failed lookup is not cached: the next call tries again (the topic may be created meanwhile).
      this.topic.catch(() => (this.topic = undefined))
    }
    return this.topic
  }

  async provision(subscriptions: readonly SubscriptionDeclaration[] = []): Promise<void> {
    const topicArn = await ensureTopic(this.clients, this.prefix, this.fifo)
    this.topic ??= Promise.resolve(topicArn)
    for (const s of subscriptions) {
      await provisionQueue(
        this.clients,
        topicArn,
        this.prefix,
        this.fifo,
        planQueue(this.prefix, this.fifo, s, this.options.redriveMargin),
        false,
      )
    }
  }

  describeInfrastructure(subscriptions: readonly SubscriptionDeclaration[]): InfrastructureDescription {
    return describeInfrastructure(subscriptions, {
      prefix: this.prefix,
      fifo: this.fifo,
      redriveMargin: this.options.redriveMargin,
    })
  }

  publish(batch: readonly Envelope[]): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError())
    return withDeadline(
      this.publisher.publish(batch),
      this.options.publishTimeoutMs,
      () => `${this.name}: publishing ${batch.length} event(s)`,
    )
  }

  async publishRaw(type: string, body: string): Promise<void> {
    const topicArn = await this.topicArn()
    try {
      await this.clients.sns.send(
        new PublishCommand({
          TopicArn: topicArn,
          Message: body,
          MessageAttributes: { [TYPE_ATTRIBUTE]: { DataType: 'String', StringValue: type } },
          ...(this.fifo ? { MessageGroupId: fifoId(type), MessageDeduplicationId: randomUUID() } : {}),
        }),
      )
    } catch (err) {
      throw transportError(`Publish (raw) to ${topicArn}`, err)
    }
  }

  async subscribe(spec: SubscriptionSpec, onBatch: (batch: Delivery[]) => Promise<void>): Promise<Subscription> {
    if (this.closed) throw this.closedError()
    const key = `${spec.group}\u0000${spec.pattern}`
    let resources = this.queues.get(key)
    if (!resources) {
      resources = this.resourcesFor(spec)
      this.queues.set(key, resources)
      resources.catch(() => this.queues.delete(key))
    }
    const provisioned = await resources
    const poller = new QueuePoller(
      {
        clients: this.clients,
        acks: this.acks,
        queue: provisioned.queue,
        dlq: provisioned.dlq,
        group: spec.group,
        fifo: this.fifo,
        leaseMs: spec.leaseMs,
        isClosed: () => this.closed,
      },
      {
        spec,
        waitTimeSeconds: this.options.waitTimeSeconds,
        retentionWarnAfterMs: this.options.retentionWarnAfterMs,
        onBatch,
        onError: this.options.onError,
      },
    )
    this.pollers.add(poller)
    poller.start()
    let closing: Promise<void> | undefined
    return {
      close: () =>
        (closing ??= (async () => {
          await poller.close()
          this.pollers.delete(poller)
          if (spec.ephemeral) {
            // A request-reply inbox is private to this process: remove its queue and subscription.
            this.queues.delete(key)
            await this.acks.flush()
            await deleteEphemeral(this.clients, provisioned).catch((err) =>
              this.options.onError(err, { operation: 'delete-inbox', group: spec.group }),
            )
          }
        })()),
    }
  }

  async deleteNamespace(): Promise<void> {
    try {
      await deleteNamespace(this.clients, this.prefix, this.fifo)
    } catch (err) {
      throw transportError(`deleting namespace ${this.prefix}`, err)
    }
    this.queues.clear()
    this.topic = undefined
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.all([...this.pollers].map((p) => p.close()))
    this.pollers.clear()
    await this.acks.flush()
    this.state.closed()
    this.unwatch()
    if (this.clients.owned) {
      this.clients.sqs.destroy()
      this.clients.sns.destroy()
    }
  }

  private async resourcesFor(spec: SubscriptionSpec): Promise<ProvisionedQueue> {
    const plan = planQueue(this.prefix, this.fifo, spec, this.options.redriveMargin)
    if (!this.options.provision) return lookupQueue(this.clients, plan, spec.ephemeral)
    return provisionQueue(this.clients, await this.topicArn(), this.prefix, this.fifo, plan, spec.ephemeral)
  }

  private closedError(): TransportError {
    return new TransportError(`the ${this.name} transport is closed: create a new one`, { retryable: false })
  }
}
