/**
 * @tierbus/redis-streams — tier 2: Redis Streams with consumer groups, XAUTOCLAIM lease recovery and
 * retries, dead-letter streams and approximate retention, over ioredis (TCP) or @upstash/redis (HTTP).
 */

export { redisAdapter, tierbusAdapters, upstashAdapter } from './adapter.js'
export { DEFAULT_MAX_PAYLOAD_BYTES, REDIS_CAPABILITIES, redisCapabilities } from './capabilities.js'
export type { BlockingReader, RedisCommand, RedisStreamClient } from './client.js'
export type { RedisDeadLetterStore } from './dead-letters.js'
export type { RedisDedupStoreOptions, RedisEvalClient } from './dedup-store.js'
export { redisDedupStore } from './dedup-store.js'
export { transportFromEnv } from './env.js'
export type { IORedisDuplicateOptions, IORedisLike, IORedisPipelineLike, RedisTransportOptions } from './ioredis.js'
export { redisTransport } from './ioredis.js'
export type { RedisKeys } from './keys.js'
export type {
  RedisErrorListener,
  RedisStreamsOptions,
  ResolvedRedisStreamsOptions,
  RetentionPolicy,
} from './options.js'
export { REDIS_STREAMS_DEFAULTS } from './options.js'
export type { RedisPayloadStoreOptions } from './payload-store.js'
export { redisPayloadStore } from './payload-store.js'
export type { RedisStreamsStats } from './stats.js'
export type { RedisStreamsTransport } from './transport.js'
export type { UpstashRedisLike, UpstashRequest, UpstashRequesterLike, UpstashTransportOptions } from './upstash.js'
export { upstashTransport } from './upstash.js'
