import { ConfigError } from '@tierbus/core'

/**
 * Key prefixes: letters, digits and `_ . : - { }` (braces allow a Redis Cluster hash tag such as
 * `{tierbus}`, which keeps every key of one bus in one slot, as multi-stream reads need). No glob
 * characters, so `SCAN MATCH <prefix>:stream:*` cannot match another bus's keys.
 */
const PREFIX = /^[A-Za-z0-9_.:{}-]{1,100}$/

/** Throws a ConfigError unless `prefix` is a valid key prefix. */
export function assertKeyPrefix(prefix: string): void {
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw new ConfigError(
      `invalid Redis key prefix ${JSON.stringify(prefix)}: use 1-100 letters, digits, '_', '.', ':', '-' or a '{hash-tag}' (set TIERBUS_REDIS_PREFIX or the prefix option)`,
    )
  }
}

/** Names of every Redis key and consumer group a redis-streams transport uses, under one prefix. */
export class RedisKeys {
  /** Key of the set of every event type published under this prefix (wildcard discovery reads it). */
  readonly types: string
  /** Pub/sub channel announcing an event type published for the first time. */
  readonly typesChannel: string
  /** Key of the set of subscriber groups that have a dead-letter stream. */
  readonly deadLetterGroups: string
  /** Key of the sorted set of delayed envelopes (score: due time in ms). */
  readonly delayed: string
  private readonly streamPrefix: string

  constructor(readonly prefix: string) {
    assertKeyPrefix(prefix)
    this.streamPrefix = `${prefix}:stream:`
    this.types = `${prefix}:types`
    this.typesChannel = `${prefix}:types:new`
    this.deadLetterGroups = `${prefix}:dlq-groups`
    this.delayed = `${prefix}:delayed`
  }

  /** The stream holding every event of one type. */
  stream(type: string): string {
    return this.streamPrefix + type
  }

  /** The event type of a stream key, or undefined when the key is not one of this prefix's streams. */
  typeOfStream(key: string): string | undefined {
    return key.startsWith(this.streamPrefix) ? key.slice(this.streamPrefix.length) : undefined
  }

  /** `SCAN MATCH` pattern for this prefix's event streams. */
  get streamScanPattern(): string {
    return `${this.streamPrefix}*`
  }

  /** `SCAN MATCH` pattern for every key of this prefix. */
  get allKeysPattern(): string {
    return `${this.prefix}:*`
  }

  /** The Redis consumer group of one (subscriber group, pattern) pair, as the memory tier keys its groups. */
  consumerGroup(group: string, pattern: string): string {
    return `${group}|${pattern}`
  }

  /** The private stream a consumer group reads besides its event streams: dead letters redriven to that group alone. */
  redrive(consumerGroup: string): string {
    return `${this.prefix}:redrive:${consumerGroup}`
  }

  /** The lease key naming which member of an ordered consumer group owns (reads) a stream. */
  owner(consumerGroup: string, stream: string): string {
    return `${this.prefix}:owner:${consumerGroup}:${stream}`
  }

  /** The dead-letter stream of one subscriber group. */
  deadLetters(group: string): string {
    return `${this.prefix}:dlq:${group}`
  }
}
