import { assertPattern, isWildcard, literalPrefix } from '@tierbus/core'
import { TYPE_ATTRIBUTE } from './attributes.js'
import { queueNames, topicName } from './names.js'

/** A subscription tierbus will run: its group and pattern, and the retry/lease settings that size its queue. */
export interface SubscriptionDeclaration {
  readonly group: string
  readonly pattern: string
  /** Attempts core makes before dead-lettering (default 5, the bus default). */
  readonly maxAttempts?: number
  /** Lease (SQS visibility timeout) in ms (default 30,000). */
  readonly leaseMs?: number
}

/** Defaults used when a declaration leaves a field out, and the native-redrive margin. */
export const TOPOLOGY_DEFAULTS = Object.freeze({
  maxAttempts: 5,
  leaseMs: 30_000,
  /** Receives beyond `maxAttempts` before SQS's own redrive moves a message (core dead-letters first, with the reason). */
  redriveMargin: 2,
  /** Longest retention SQS allows (14 days), for queues and DLQs. */
  retentionSeconds: 1_209_600,
  /** SQS's largest message size (1 MiB), so a dead letter with its reason attributes always fits. */
  dlqMaximumMessageSize: 1_048_576,
})

/** What one subscription needs in SQS/SNS. */
export interface QueuePlan {
  readonly group: string
  readonly pattern: string
  readonly queueName: string
  readonly dlqName: string
  /** SNS subscription filter policy on the `type` attribute; undefined when the pattern starts with a wildcard (everything is delivered and matched by the consumer). */
  readonly filterPolicy: Record<string, unknown> | undefined
  /** `maxReceiveCount` of the queue's RedrivePolicy. */
  readonly maxReceiveCount: number
  readonly visibilityTimeoutSeconds: number
  /** False when the pattern is a wildcard the filter policy only narrows: the consumer acks non-matching events silently. */
  readonly exactFilter: boolean
}

/** The SNS filter policy that narrows deliveries of `pattern`: exact type, or the wildcard's literal prefix. */
export function filterPolicyFor(pattern: string): { policy: Record<string, unknown> | undefined; exact: boolean } {
  assertPattern(pattern)
  if (!isWildcard(pattern)) return { policy: { [TYPE_ATTRIBUTE]: [pattern] }, exact: true }
  const prefix = literalPrefix(pattern)
  return { policy: prefix ? { [TYPE_ATTRIBUTE]: [{ prefix }] } : undefined, exact: false }
}

/** Visibility timeout in whole seconds for a lease in ms (SQS counts in seconds; 1 s to 12 h). */
export function visibilitySeconds(ms: number): number {
  return Math.min(43_200, Math.max(0, Math.ceil(ms / 1000)))
}

/** The queue plan of one declared subscription. */
export function planQueue(
  prefix: string,
  fifo: boolean,
  declaration: SubscriptionDeclaration,
  redriveMargin: number = TOPOLOGY_DEFAULTS.redriveMargin,
): QueuePlan {
  const { policy, exact } = filterPolicyFor(declaration.pattern)
  const names = queueNames(prefix, declaration.group, declaration.pattern, fifo)
  return {
    group: declaration.group,
    pattern: declaration.pattern,
    queueName: names.queue,
    dlqName: names.dlq,
    filterPolicy: policy,
    maxReceiveCount: (declaration.maxAttempts ?? TOPOLOGY_DEFAULTS.maxAttempts) + redriveMargin,
    visibilityTimeoutSeconds: Math.max(1, visibilitySeconds(declaration.leaseMs ?? TOPOLOGY_DEFAULTS.leaseMs)),
    exactFilter: exact,
  }
}

/** The access policy that lets the namespace topic send to a queue (SNS → SQS delivery). */
export function queuePolicy(queueArn: string, topicArn: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'tierbus-allow-topic',
        Effect: 'Allow',
        Principal: { Service: 'sns.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: queueArn,
        Condition: { ArnEquals: { 'aws:SourceArn': topicArn } },
      },
    ],
  })
}

/** Where the described resources live; placeholders are printed for what is not known. */
export interface InfrastructureOptions {
  /** Namespace prefix (default `tierbus`). */
  readonly prefix?: string
  /** FIFO topic and queues (ordering per key). */
  readonly fifo?: boolean
  readonly region?: string
  readonly accountId?: string
  /** See `TOPOLOGY_DEFAULTS.redriveMargin`. */
  readonly redriveMargin?: number
}

/** An IAM policy statement. */
export interface IamStatement {
  readonly Sid: string
  readonly Effect: 'Allow'
  readonly Action: readonly string[]
  readonly Resource: readonly string[]
}

/** Everything production needs for a tierbus namespace, for teams that provision with CloudFormation/CDK/Terraform. */
export interface InfrastructureDescription {
  readonly topic: { readonly name: string; readonly arn: string; readonly attributes: Record<string, string> }
  readonly queues: ReadonlyArray<
    QueuePlan & {
      readonly queueArn: string
      readonly dlqArn: string
      readonly queueAttributes: Record<string, string>
      readonly dlqAttributes: Record<string, string>
      readonly subscriptionAttributes: Record<string, string>
    }
  >
  /** IAM statements for the roles involved. */
  readonly iam: {
    readonly publisher: readonly IamStatement[]
    readonly consumer: readonly IamStatement[]
    /** Only for apps that run `provision()` (dev, tests, or a deploy step). */
    readonly provisioner: readonly IamStatement[]
  }
  /** A readable summary of all of the above. */
  readonly text: string
}

/**
 * Describes the SNS topic, SQS queues, DLQs, subscriptions, filter policies, redrive policies and IAM
 * statements a namespace needs for the given subscriptions, without calling AWS.
 */
export function describeInfrastructure(
  subscriptions: readonly SubscriptionDeclaration[],
  options: InfrastructureOptions = {},
): InfrastructureDescription {
  const prefix = options.prefix ?? 'tierbus'
  const fifo = options.fifo ?? false
  const region = options.region ?? '<region>'
  const account = options.accountId ?? '<account-id>'
  const arn = (service: 'sns' | 'sqs', name: string) => `arn:aws:${service}:${region}:${account}:${name}`
  const name = topicName(prefix, fifo)
  const topicArn = arn('sns', name)
  const fifoAttrs: Record<string, string> = fifo ? { FifoQueue: 'true' } : {}
  const queues = subscriptions.map((s) => {
    const plan = planQueue(prefix, fifo, s, options.redriveMargin)
    const queueArn = arn('sqs', plan.queueName)
    const dlqArn = arn('sqs', plan.dlqName)
    return {
      ...plan,
      queueArn,
      dlqArn,
      queueAttributes: {
        ...fifoAttrs,
        VisibilityTimeout: String(plan.visibilityTimeoutSeconds),
        MessageRetentionPeriod: String(TOPOLOGY_DEFAULTS.retentionSeconds),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: plan.maxReceiveCount }),
        Policy: queuePolicy(queueArn, topicArn),
      },
      dlqAttributes: {
        ...fifoAttrs,
        MessageRetentionPeriod: String(TOPOLOGY_DEFAULTS.retentionSeconds),
        MaximumMessageSize: String(TOPOLOGY_DEFAULTS.dlqMaximumMessageSize),
      },
      subscriptionAttributes: {
        RawMessageDelivery: 'true',
        ...(plan.filterPolicy
          ? { FilterPolicy: JSON.stringify(plan.filterPolicy), FilterPolicyScope: 'MessageAttributes' }
          : {}),
      },
    }
  })
  const queueArns = queues.map((q) => q.queueArn)
  const dlqArns = queues.map((q) => q.dlqArn)
  const all = queueArns.length ? queueArns : [arn('sqs', `${prefix}-*`)]
  const allDlqs = dlqArns.length ? dlqArns : [arn('sqs', `${prefix}-*-dlq${fifo ? '.fifo' : ''}`)]
  const iam = {
    publisher: [{ Sid: 'TierbusPublish', Effect: 'Allow' as const, Action: ['sns:Publish'], Resource: [topicArn] }],
    consumer: [
      {
        Sid: 'TierbusConsume',
        Effect: 'Allow' as const,
        Action: [
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:GetQueueUrl',
          'sqs:GetQueueAttributes',
        ],
        Resource: all,
      },
      {
        Sid: 'TierbusDeadLetter',
        Effect: 'Allow' as const,
        Action: [
          'sqs:SendMessage',
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:GetQueueUrl',
          'sqs:GetQueueAttributes',
          'sqs:ListQueueTags',
        ],
        Resource: allDlqs,
      },
      { Sid: 'TierbusRedrive', Effect: 'Allow' as const, Action: ['sqs:SendMessage'], Resource: all },
      {
        Sid: 'TierbusFindTopic',
        Effect: 'Allow' as const,
        Action: ['sns:ListTopics', 'sqs:ListQueues'],
        Resource: ['*'],
      },
    ],
    provisioner: [
      {
        Sid: 'TierbusProvisionTopic',
        Effect: 'Allow' as const,
        Action: [
          'sns:CreateTopic',
          'sns:Subscribe',
          'sns:Unsubscribe',
          'sns:ListSubscriptionsByTopic',
          'sns:SetSubscriptionAttributes',
          'sns:DeleteTopic',
        ],
        Resource: [topicArn],
      },
      {
        Sid: 'TierbusProvisionQueues',
        Effect: 'Allow' as const,
        Action: ['sqs:CreateQueue', 'sqs:SetQueueAttributes', 'sqs:TagQueue', 'sqs:DeleteQueue'],
        Resource: [...all, ...allDlqs],
      },
    ],
  }
  const lines = [
    `tierbus SQS/SNS namespace '${prefix}'${fifo ? ' (FIFO)' : ''}`,
    `SNS topic ${name} (${topicArn})${fifo ? ' FifoTopic=true ContentBasedDeduplication=false' : ''}`,
    '  every event is published here with the String message attribute type=<event type>',
  ]
  for (const q of queues) {
    lines.push(
      `group '${q.group}' pattern '${q.pattern}'`,
      `  SQS queue ${q.queueName}: VisibilityTimeout=${q.visibilityTimeoutSeconds}s, RedrivePolicy maxReceiveCount=${q.maxReceiveCount} -> ${q.dlqName}, retention 14 days`,
      `  SQS DLQ   ${q.dlqName}: retention 14 days, MaximumMessageSize=1 MiB`,
      `  SNS subscription ${name} -> ${q.queueName}: RawMessageDelivery=true, FilterPolicy=${q.filterPolicy ? JSON.stringify(q.filterPolicy) : '(none: every event, matched by the consumer)'}`,
      `  queue policy: allow sns.amazonaws.com sqs:SendMessage from ${topicArn}`,
    )
    if (!q.exactFilter)
      lines.push(
        `  note: the filter only narrows to the prefix; events that pass it but do not match '${q.pattern}' are acked without being handled`,
      )
  }
  lines.push(`IAM publisher: ${iam.publisher.map((s) => s.Action.join(',')).join('; ')}`)
  lines.push(
    `IAM consumer: ${iam.consumer.map((s) => `${s.Action.join(',')} on ${s.Resource.length} resource(s)`).join('; ')}`,
  )
  lines.push(`IAM provisioner (dev/deploy only): ${iam.provisioner.map((s) => s.Action.join(',')).join('; ')}`)
  return {
    topic: { name, arn: topicArn, attributes: fifo ? { FifoTopic: 'true', ContentBasedDeduplication: 'false' } : {} },
    queues,
    iam,
    text: lines.join('\n'),
  }
}
