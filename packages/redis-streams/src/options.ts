import { ConfigError, type TransportErrorListener } from '@tierbus/core'
import {
  positiveInt as assertPositiveInt,
  type ConnectionStateOptions,
  type PublishDeadlineOptions,
  resolvePublishTimeout,
  warnErrorListener,
} from '@tierbus/core/adapter'
import { DEFAULT_MAX_PAYLOAD_BYTES } from './capabilities.js'
import { assertKeyPrefix } from './keys.js'

/**
 * How much history each event stream keeps: `{ maxLen }` about that many entries per stream, `{ maxAgeMs }`
 * entries younger than that, `false` everything. Applied every `trimEveryMs` to the streams a transport
 * wrote to. By default a trim never removes an entry that a consumer group has not settled (acked or
 * dead-lettered): a lagging group holds the stream longer (counted in `stats().trimsHeldForGroups`).
 * `trimUnread: true` trims by the policy alone and counts what it removed unsettled
 * (`stats().trimmedUnread`, `bus.metrics().trimmedUnread`, a warning in the advisor).
 */
export type RetentionPolicy =
  | { readonly maxLen: number; readonly trimUnread?: boolean }
  | { readonly maxAgeMs: number; readonly trimUnread?: boolean }
  | false

/**
 * Where the transport reports problems it cannot throw to anyone (a failed background read or claim).
 * @deprecated Use `TransportErrorListener` from `@tierbus/core` (the same shape, shared by every tier).
 */
export type RedisErrorListener = TransportErrorListener

/** Options shared by the ioredis and Upstash transports. */
export interface RedisStreamsOptions extends ConnectionStateOptions, PublishDeadlineOptions {
  /** Prefix of every key (`<prefix>:stream:<type>`, ...); isolates buses sharing one Redis. */
  prefix?: string
  /** History kept per stream (see `RetentionPolicy`). */
  retention?: RetentionPolicy
  /** Largest encoded envelope, bytes. */
  maxPayloadBytes?: number
  /** Longest single blocking `XREADGROUP` (tcp), ms; also the worst-case wake-up delay if an interrupt is missed. */
  blockMs?: number
  /** Shortest poll interval (http), ms: used while events keep arriving. */
  pollMinMs?: number
  /** Longest poll interval (http), ms: the idle interval doubles up to it. */
  pollMaxMs?: number
  /** How often a wildcard subscription looks for new matching streams, ms (tcp also wakes at once on a pub/sub notice). */
  discoveryMs?: number
  /** Cap on how often a subscription reclaims expired leases (the interval is `leaseMs / 4`, at most this), ms. */
  reclaimMaxIntervalMs?: number
  /** Consumers with no pending entries idle this long are removed from their group, ms. */
  staleConsumerMs?: number
  /** Longest wait between checks for due delayed events, ms. */
  delayedPollMs?: number
  /** How often retention trims the streams this transport wrote to, ms. */
  trimEveryMs?: number
  /** Background errors (a failed read, claim or reconnect); default: `console.warn`. */
  onError?: TransportErrorListener
}

/** Defaults of `RedisStreamsOptions`. */
export const REDIS_STREAMS_DEFAULTS = Object.freeze({
  prefix: 'tierbus',
  retention: Object.freeze({ maxLen: 100_000 }) as RetentionPolicy,
  maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
  blockMs: 2_000,
  pollMinMs: 50,
  pollMaxMs: 1_000,
  discoveryMs: 1_000,
  reclaimMaxIntervalMs: 5_000,
  staleConsumerMs: 3_600_000,
  delayedPollMs: 1_000,
  trimEveryMs: 1_000,
  onError: warnErrorListener('redis'),
})

/** Options with every default applied and checked. */
export type ResolvedRedisStreamsOptions = Required<Omit<RedisStreamsOptions, 'onConnectionState'>> &
  Pick<RedisStreamsOptions, 'onConnectionState'>

function positiveInt(value: number, name: string): number {
  return assertPositiveInt(value, `redis-streams option ${name}`)
}

/** Applies defaults and rejects bad values with a ConfigError naming the option. */
export function resolveOptions(options: RedisStreamsOptions): ResolvedRedisStreamsOptions {
  const d = REDIS_STREAMS_DEFAULTS
  const prefix = options.prefix ?? d.prefix
  assertKeyPrefix(prefix)
  const retention = options.retention ?? d.retention
  if (retention !== false) {
    if ('maxLen' in retention) positiveInt(retention.maxLen, 'retention.maxLen')
    else if ('maxAgeMs' in retention) positiveInt(retention.maxAgeMs, 'retention.maxAgeMs')
    else throw new ConfigError('redis-streams option retention must be { maxLen }, { maxAgeMs } or false')
    if (retention.trimUnread !== undefined && typeof retention.trimUnread !== 'boolean')
      throw new ConfigError('redis-streams option retention.trimUnread must be true or false')
  }
  const resolved: ResolvedRedisStreamsOptions = {
    prefix,
    retention,
    maxPayloadBytes: positiveInt(options.maxPayloadBytes ?? d.maxPayloadBytes, 'maxPayloadBytes'),
    blockMs: positiveInt(options.blockMs ?? d.blockMs, 'blockMs'),
    pollMinMs: positiveInt(options.pollMinMs ?? d.pollMinMs, 'pollMinMs'),
    pollMaxMs: positiveInt(options.pollMaxMs ?? d.pollMaxMs, 'pollMaxMs'),
    discoveryMs: positiveInt(options.discoveryMs ?? d.discoveryMs, 'discoveryMs'),
    reclaimMaxIntervalMs: positiveInt(options.reclaimMaxIntervalMs ?? d.reclaimMaxIntervalMs, 'reclaimMaxIntervalMs'),
    staleConsumerMs: positiveInt(options.staleConsumerMs ?? d.staleConsumerMs, 'staleConsumerMs'),
    delayedPollMs: positiveInt(options.delayedPollMs ?? d.delayedPollMs, 'delayedPollMs'),
    trimEveryMs: positiveInt(options.trimEveryMs ?? d.trimEveryMs, 'trimEveryMs'),
    onError: options.onError ?? d.onError,
    publishTimeoutMs: resolvePublishTimeout(options.publishTimeoutMs, 'redis-streams'),
    ...(options.onConnectionState ? { onConnectionState: options.onConnectionState } : {}),
  }
  if (resolved.pollMaxMs < resolved.pollMinMs)
    throw new ConfigError(
      `redis-streams option pollMaxMs (${resolved.pollMaxMs}) must be >= pollMinMs (${resolved.pollMinMs})`,
    )
  return resolved
}
