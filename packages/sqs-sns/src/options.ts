import { SNSClient } from '@aws-sdk/client-sns'
import { SQSClient } from '@aws-sdk/client-sqs'
import { ConfigError, type TransportErrorListener } from '@tierbus/core'
import {
  type ConnectionStateOptions,
  type PublishDeadlineOptions,
  resolvePublishTimeout,
  warnErrorListener,
} from '@tierbus/core/adapter'
import { assertPrefix } from './names.js'
import { TOPOLOGY_DEFAULTS } from './topology.js'

/** Static credentials; leave them out to use the AWS SDK's default chain (env vars, profile, role). */
export interface SqsCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken?: string
}

/** Options of `sqsTransport`. */
export interface SqsTransportOptions extends ConnectionStateOptions, PublishDeadlineOptions {
  /** AWS region; default: the SDK's (AWS_REGION). */
  region?: string
  /** Endpoint override (an emulator or VPC endpoint): one URL for both, or one per service. */
  endpoint?: string | { readonly sqs?: string; readonly sns?: string }
  credentials?: SqsCredentials
  /**
   * Bring your own SQS and SNS clients (then they are not destroyed on close). Add any middleware before
   * passing them: receives, deletes and publishes resolve the client's middleware once (docs/tiers/sqs-sns.md).
   */
  client?: { readonly sqs: SQSClient; readonly sns: SNSClient }
  /** @deprecated Pass `client: { sqs, sns }` (the same name on every tier). */
  sqsClient?: SQSClient
  /** @deprecated Pass `client: { sqs, sns }` (the same name on every tier). */
  snsClient?: SNSClient
  /** Namespace: the SNS topic is `<prefix>-events`, queues start with `<prefix>-`. */
  prefix?: string
  /** FIFO topic and queues: per-key ordering (MessageGroupId = key) and dedup by event id. */
  fifo?: boolean
  /** Create missing topic, queues, DLQs, subscriptions and policies (dev, tests); false in production where infrastructure-as-code owns them. */
  provision?: boolean
  /** Long-poll wait of ReceiveMessage, seconds (0-20). */
  waitTimeSeconds?: number
  /** Acks are collected for this long (or until 10) into one DeleteMessageBatch. */
  ackWindowMs?: number
  /** PublishBatch calls in flight at once for one publish (standard topics; FIFO sends them in order). */
  publishConcurrency?: number
  /** Receives beyond a subscription's maxAttempts before SQS's RedrivePolicy moves a message to the DLQ. */
  redriveMargin?: number
  /**
   * SQS deletes a message after the queue's retention (14 days, the most AWS allows) whether or not it
   * was consumed, and says nothing. A group that receives a message older than this, ms, is close to
   * losing events that way: reported to `onError` (a `RetentionWarning`, at most once a minute per queue).
   */
  retentionWarnAfterMs?: number
  /** Where background errors go (failed receives); default: console.warn. */
  onError?: TransportErrorListener
}

/** Defaults of `SqsTransportOptions`. */
export const SQS_DEFAULTS = Object.freeze({
  prefix: 'tierbus',
  fifo: false,
  provision: true,
  waitTimeSeconds: 20,
  ackWindowMs: 5,
  publishConcurrency: 8,
  redriveMargin: TOPOLOGY_DEFAULTS.redriveMargin,
  /** Half of the 14-day retention. */
  retentionWarnAfterMs: (TOPOLOGY_DEFAULTS.retentionSeconds * 1_000) / 2,
})

/** Options with every default applied and checked. */
export interface ResolvedSqsOptions {
  readonly prefix: string
  readonly fifo: boolean
  readonly provision: boolean
  readonly waitTimeSeconds: number
  readonly ackWindowMs: number
  readonly publishConcurrency: number
  readonly redriveMargin: number
  readonly retentionWarnAfterMs: number
  readonly onError: TransportErrorListener
  readonly publishTimeoutMs: number
}

function intIn(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new ConfigError(`sqsTransport option ${name} must be an integer from ${min} to ${max}, got ${String(value)}`)
  return value
}

/** Applies defaults and validates, throwing a ConfigError naming the bad option. */
export function resolveOptions(options: SqsTransportOptions): ResolvedSqsOptions {
  const prefix = options.prefix ?? SQS_DEFAULTS.prefix
  assertPrefix(prefix)
  return {
    prefix,
    fifo: options.fifo ?? SQS_DEFAULTS.fifo,
    provision: options.provision ?? SQS_DEFAULTS.provision,
    waitTimeSeconds: intIn('waitTimeSeconds', options.waitTimeSeconds ?? SQS_DEFAULTS.waitTimeSeconds, 0, 20),
    ackWindowMs: intIn('ackWindowMs', options.ackWindowMs ?? SQS_DEFAULTS.ackWindowMs, 0, 10_000),
    publishConcurrency: intIn(
      'publishConcurrency',
      options.publishConcurrency ?? SQS_DEFAULTS.publishConcurrency,
      1,
      100,
    ),
    redriveMargin: intIn('redriveMargin', options.redriveMargin ?? SQS_DEFAULTS.redriveMargin, 0, 100),
    retentionWarnAfterMs: intIn(
      'retentionWarnAfterMs',
      options.retentionWarnAfterMs ?? SQS_DEFAULTS.retentionWarnAfterMs,
      1,
      TOPOLOGY_DEFAULTS.retentionSeconds * 1_000,
    ),
    onError: options.onError ?? warnErrorListener('sqs-sns'),
    publishTimeoutMs: resolvePublishTimeout(options.publishTimeoutMs, 'sqsTransport'),
  }
}

/** The SQS and SNS clients a transport uses, and whether it owns (and so destroys) them. */
export interface SqsClients {
  readonly sqs: SQSClient
  readonly sns: SNSClient
  readonly owned: boolean
}

/** Builds the clients from options (or takes the given ones). */
export function createClients(options: SqsTransportOptions): SqsClients {
  if (options.client) return { sqs: options.client.sqs, sns: options.client.sns, owned: false }
  if (options.sqsClient || options.snsClient) {
    if (!options.sqsClient || !options.snsClient) {
      throw new ConfigError('sqsTransport: pass client: { sqs, sns } (both clients), or neither')
    }
    return { sqs: options.sqsClient, sns: options.snsClient, owned: false }
  }
  const endpoints =
    typeof options.endpoint === 'string' ? { sqs: options.endpoint, sns: options.endpoint } : (options.endpoint ?? {})
  const common = {
    ...(options.region ? { region: options.region } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  }
  return {
    sqs: new SQSClient({ ...common, ...(endpoints.sqs ? { endpoint: endpoints.sqs } : {}) }),
    sns: new SNSClient({ ...common, ...(endpoints.sns ? { endpoint: endpoints.sns } : {}) }),
    owned: true,
  }
}
