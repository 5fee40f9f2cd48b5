export { sqsAdapter, tierbusAdapters } from './adapter.js'
export { DEAD_LETTER_ATTRIBUTES, QUEUE_TAGS, TYPE_ATTRIBUTE } from './attributes.js'
export { SqsDeadLetters } from './dead-letters.js'
export { SqsEnv, transportFromEnv } from './env.js'
export { queueNames, topicName } from './names.js'
export type { SqsCredentials, SqsTransportOptions } from './options.js'
export { SQS_DEFAULTS } from './options.js'
export { chunkEntries, MAX_ENVELOPE_BYTES } from './publisher.js'
export { RetentionWarning } from './queue-poller.js'
export type {
  IamStatement,
  InfrastructureDescription,
  InfrastructureOptions,
  QueuePlan,
  SubscriptionDeclaration,
} from './topology.js'
export { describeInfrastructure, filterPolicyFor, TOPOLOGY_DEFAULTS } from './topology.js'
export type { SqsTransport } from './transport.js'
export { SQS_CAPABILITIES, SQS_FIFO_CAPABILITIES, sqsTransport } from './transport.js'
