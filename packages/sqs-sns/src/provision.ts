import {
  CreateTopicCommand,
  DeleteTopicCommand,
  ListSubscriptionsByTopicCommand,
  ListTopicsCommand,
  SetSubscriptionAttributesCommand,
  type Subscription as SnsSubscription,
  SubscribeCommand,
  UnsubscribeCommand,
} from '@aws-sdk/client-sns'
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  ListQueueTagsCommand,
  SetQueueAttributesCommand,
} from '@aws-sdk/client-sqs'
import { TransportError } from '@tierbus/core'
import { QUEUE_TAGS } from './attributes.js'
import { awsErrorName, isMissingQueue, isQueueNameTaken, required, transportError } from './aws-errors.js'
import { queueNameOfUrl, topicName } from './names.js'
import type { SqsClients } from './options.js'
import { type QueuePlan, queuePolicy, TOPOLOGY_DEFAULTS } from './topology.js'

/** A queue tierbus consumes from, resolved to its URL and ARN. */
export interface QueueRef {
  readonly name: string
  readonly url: string
  readonly arn: string
}

/** The live resources of one subscription. */
export interface ProvisionedQueue {
  readonly queue: QueueRef
  /** Undefined for ephemeral (request-reply inbox) queues, which have none. */
  readonly dlq: QueueRef | undefined
  /** Set when this process created or verified the SNS subscription (needed to unsubscribe an ephemeral queue). */
  readonly subscriptionArn: string | undefined
}

/** Creates the namespace topic, or finds it when it exists (CreateTopic is idempotent). */
export async function ensureTopic(clients: SqsClients, prefix: string, fifo: boolean): Promise<string> {
  const Name = topicName(prefix, fifo)
  try {
    const out = await clients.sns.send(
      new CreateTopicCommand({
        Name,
        ...(fifo ? { Attributes: { FifoTopic: 'true', ContentBasedDeduplication: 'false' } } : {}),
      }),
    )
    return required(out.TopicArn, 'TopicArn')
  } catch (err) {
    throw transportError(`creating SNS topic ${Name}`, err)
  }
}

/** Finds the namespace topic without creating it; a TransportError says how to create it when missing. */
export async function findTopic(clients: SqsClients, prefix: string, fifo: boolean): Promise<string> {
  const name = topicName(prefix, fifo)
  let NextToken: string | undefined
  try {
    do {
      const page = await clients.sns.send(new ListTopicsCommand({ ...(NextToken ? { NextToken } : {}) }))
      const hit = page.Topics?.find((t) => t.TopicArn?.endsWith(`:${name}`))
      if (hit?.TopicArn) return hit.TopicArn
      NextToken = page.NextToken
    } while (NextToken)
  } catch (err) {
    throw transportError(`looking up SNS topic ${name}`, err)
  }
  throw new TransportError(
    `SNS topic ${name} does not exist: create it with your infrastructure code (see describeInfrastructure()), or let tierbus create it with provision: true / TIERBUS_SQS_PROVISION=true`,
    { retryable: false },
  )
}

async function queueArn(clients: SqsClients, url: string): Promise<string> {
  const out = await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))
  return required(out.Attributes?.QueueArn, 'QueueArn')
}

/** Creates a queue, or updates the attributes of the one that exists (idempotent). */
async function ensureQueue(
  clients: SqsClients,
  name: string,
  attributes: Record<string, string>,
  tags: Record<string, string>,
): Promise<QueueRef> {
  try {
    let url: string
    try {
      url = required(
        (await clients.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes, tags }))).QueueUrl,
        'QueueUrl',
      )
    } catch (err) {
      if (!isQueueNameTaken(err)) throw err
      // The queue exists with other attributes (e.g. another maxAttempts): converge on the declared ones.
      url = required((await clients.sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl, 'QueueUrl')
      const { FifoQueue: _, ...mutable } = attributes
      await clients.sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: mutable }))
    }
    return { name, url, arn: await queueArn(clients, url) }
  } catch (err) {
    throw transportError(`creating SQS queue ${name}`, err)
  }
}

/** Finds an existing queue; a TransportError says how to create it when missing. */
export async function findQueue(clients: SqsClients, name: string): Promise<QueueRef> {
  try {
    const url = required((await clients.sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl, 'QueueUrl')
    return { name, url, arn: await queueArn(clients, url) }
  } catch (err) {
    if (isMissingQueue(err)) {
      throw new TransportError(
        `SQS queue ${name} does not exist: create it with your infrastructure code (see describeInfrastructure()), or let tierbus create it with provision: true / TIERBUS_SQS_PROVISION=true`,
        { cause: err, retryable: false },
      )
    }
    throw transportError(`looking up SQS queue ${name}`, err)
  }
}

/** Subscribes the queue to the topic with raw delivery and the filter policy, or converges an existing subscription. */
async function ensureSubscription(
  clients: SqsClients,
  topicArn: string,
  queue: QueueRef,
  attributes: Record<string, string>,
): Promise<string> {
  try {
    try {
      const out = await clients.sns.send(
        new SubscribeCommand({
          TopicArn: topicArn,
          Protocol: 'sqs',
          Endpoint: queue.arn,
          Attributes: attributes,
          ReturnSubscriptionArn: true,
        }),
      )
      return required(out.SubscriptionArn, 'SubscriptionArn')
    } catch (err) {
      if (!awsErrorName(err).includes('InvalidParameter')) throw err
      // "Subscription already exists with different attributes": update it in place.
      const existing = await findSubscription(clients, topicArn, queue.arn)
      if (!existing?.SubscriptionArn) throw err
      for (const [AttributeName, AttributeValue] of Object.entries(attributes)) {
        await clients.sns.send(
          new SetSubscriptionAttributesCommand({
            SubscriptionArn: existing.SubscriptionArn,
            AttributeName,
            AttributeValue,
          }),
        )
      }
      return existing.SubscriptionArn
    }
  } catch (err) {
    throw transportError(`subscribing ${queue.name} to ${topicArn}`, err)
  }
}

async function findSubscription(
  clients: SqsClients,
  topicArn: string,
  endpoint: string,
): Promise<SnsSubscription | undefined> {
  let NextToken: string | undefined
  do {
    const page = await clients.sns.send(
      new ListSubscriptionsByTopicCommand({ TopicArn: topicArn, ...(NextToken ? { NextToken } : {}) }),
    )
    const hit = page.Subscriptions?.find((s) => s.Endpoint === endpoint)
    if (hit) return hit
    NextToken = page.NextToken
  } while (NextToken)
  return undefined
}

/** Tags identifying a queue as tierbus's, with its namespace, group, pattern and role. */
function tagsFor(prefix: string, plan: QueuePlan, role: 'queue' | 'dlq' | 'inbox'): Record<string, string> {
  // No pattern tag: tag values cannot hold '*' or '>'; the pattern is in the subscription's filter policy.
  return { [QUEUE_TAGS.namespace]: prefix, [QUEUE_TAGS.group]: plan.group, [QUEUE_TAGS.role]: role }
}

/**
 * Creates or verifies everything one subscription needs, in dependency order: DLQ, queue with its
 * RedrivePolicy and the policy letting the topic send, then the SNS subscription. Idempotent.
 */
export async function provisionQueue(
  clients: SqsClients,
  topicArn: string,
  prefix: string,
  fifo: boolean,
  plan: QueuePlan,
  ephemeral: boolean,
): Promise<ProvisionedQueue> {
  const fifoAttrs: Record<string, string> = fifo ? { FifoQueue: 'true' } : {}
  const retention = String(TOPOLOGY_DEFAULTS.retentionSeconds)
  const dlq = ephemeral
    ? undefined
    : await ensureQueue(
        clients,
        plan.dlqName,
        {
          ...fifoAttrs,
          MessageRetentionPeriod: retention,
          MaximumMessageSize: String(TOPOLOGY_DEFAULTS.dlqMaximumMessageSize),
        },
        tagsFor(prefix, plan, 'dlq'),
      )
  // The queue's ARN is needed in its own policy: create first, then set the policy.
  const attributes: Record<string, string> = { ...fifoAttrs, VisibilityTimeout: String(plan.visibilityTimeoutSeconds) }
  if (dlq) {
    attributes.MessageRetentionPeriod = retention
    attributes.RedrivePolicy = JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: plan.maxReceiveCount })
  }
  const queue = await ensureQueue(
    clients,
    plan.queueName,
    attributes,
    tagsFor(prefix, plan, ephemeral ? 'inbox' : 'queue'),
  )
  try {
    await clients.sqs.send(
      new SetQueueAttributesCommand({ QueueUrl: queue.url, Attributes: { Policy: queuePolicy(queue.arn, topicArn) } }),
    )
  } catch (err) {
    throw transportError(`setting the access policy of ${queue.name}`, err)
  }
  const subscriptionAttributes: Record<string, string> = { RawMessageDelivery: 'true' }
  if (plan.filterPolicy) {
    subscriptionAttributes.FilterPolicy = JSON.stringify(plan.filterPolicy)
    subscriptionAttributes.FilterPolicyScope = 'MessageAttributes'
  }
  const subscriptionArn = await ensureSubscription(clients, topicArn, queue, subscriptionAttributes)
  return { queue, dlq, subscriptionArn }
}

/** Resolves the resources of one subscription without creating anything (provision: false). */
export async function lookupQueue(clients: SqsClients, plan: QueuePlan, ephemeral: boolean): Promise<ProvisionedQueue> {
  const [queue, dlq] = await Promise.all([
    findQueue(clients, plan.queueName),
    ephemeral ? undefined : findQueue(clients, plan.dlqName),
  ])
  return { queue, dlq, subscriptionArn: undefined }
}

/** Removes an ephemeral subscription's SNS subscription and queue. */
export async function deleteEphemeral(clients: SqsClients, provisioned: ProvisionedQueue): Promise<void> {
  if (provisioned.subscriptionArn)
    await clients.sns.send(new UnsubscribeCommand({ SubscriptionArn: provisioned.subscriptionArn }))
  await clients.sqs.send(new DeleteQueueCommand({ QueueUrl: provisioned.queue.url })).catch((err) => {
    if (!isMissingQueue(err)) throw err
  })
}

/** A queue of a namespace with its tierbus tags. */
export interface TaggedQueue {
  readonly name: string
  readonly url: string
  readonly tags: Record<string, string>
}

/** The queues tierbus created for a namespace (found by name prefix, confirmed by the namespace tag). */
export async function namespaceQueues(clients: SqsClients, prefix: string): Promise<TaggedQueue[]> {
  const urls: string[] = []
  let NextToken: string | undefined
  do {
    const page = await clients.sqs.send(
      new ListQueuesCommand({ QueueNamePrefix: `${prefix}-`, MaxResults: 1000, ...(NextToken ? { NextToken } : {}) }),
    )
    urls.push(...(page.QueueUrls ?? []))
    NextToken = page.NextToken
  } while (NextToken)
  const tagged = await Promise.all(
    urls.map(async (url) => {
      try {
        const tags = (await clients.sqs.send(new ListQueueTagsCommand({ QueueUrl: url }))).Tags ?? {}
        return { name: queueNameOfUrl(url), url, tags }
      } catch (err) {
        if (isMissingQueue(err)) return undefined
        throw err
      }
    }),
  )
  return tagged.filter((q): q is TaggedQueue => q !== undefined && q.tags[QUEUE_TAGS.namespace] === prefix)
}

/**
 * Deletes a namespace's queues, subscriptions and topic (tests, teardown of a preview environment).
 * Irreversible: every pending event and dead letter of the namespace is lost.
 */
export async function deleteNamespace(clients: SqsClients, prefix: string, fifo: boolean): Promise<void> {
  const queues = await namespaceQueues(clients, prefix)
  await Promise.all(
    queues.map((q) =>
      clients.sqs
        .send(new DeleteQueueCommand({ QueueUrl: q.url }))
        .catch((err) => (isMissingQueue(err) ? undefined : Promise.reject(err))),
    ),
  )
  let topicArn: string
  try {
    topicArn = await findTopic(clients, prefix, fifo)
  } catch (err) {
    if (err instanceof TransportError && !err.retryable) return
    throw err
  }
  let NextToken: string | undefined
  do {
    const page = await clients.sns.send(
      new ListSubscriptionsByTopicCommand({ TopicArn: topicArn, ...(NextToken ? { NextToken } : {}) }),
    )
    await Promise.all(
      (page.Subscriptions ?? []).map((s) =>
        clients.sns.send(new UnsubscribeCommand({ SubscriptionArn: required(s.SubscriptionArn, 'SubscriptionArn') })),
      ),
    )
    NextToken = page.NextToken
  } while (NextToken)
  await clients.sns.send(new DeleteTopicCommand({ TopicArn: topicArn }))
}
