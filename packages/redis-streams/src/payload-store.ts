import { ConfigError, isPayloadId, PAYLOAD_RETENTION_DEFAULT_MS, type PayloadStore } from '@tierbus/core'
import type { RedisStreamClient } from './client.js'
import { assertKeyPrefix } from './keys.js'

/** Options of `redisPayloadStore`. */
export interface RedisPayloadStoreOptions {
  /** The connection, e.g. a redis transport's `client` (shared: the store never closes it). */
  client: RedisStreamClient
  /** Key prefix: bodies live at `<prefix>:payload:<id>` (e.g. the transport's `keys.prefix`). */
  prefix: string
  /** How long a body is kept (`SET ... PX`), ms; default 7 days. Keep it at least the stream retention. */
  retentionMs?: number
}

/**
 * Claim-check bodies in Redis, next to the streams: one string key per body under the prefix, expiring
 * after `retentionMs`. Upstash caps a request's size (see its plan), which bounds the body size there.
 */
export function redisPayloadStore(options: RedisPayloadStoreOptions): PayloadStore {
  assertKeyPrefix(options.prefix)
  const retentionMs = options.retentionMs ?? PAYLOAD_RETENTION_DEFAULT_MS
  if (!Number.isInteger(retentionMs) || retentionMs <= 0)
    throw new ConfigError('redisPayloadStore: retentionMs must be a positive whole number of milliseconds')
  const key = (id: string) => {
    // Defence in depth: claim-check validates references already; a key is only ever prefix + 32 hex.
    if (!isPayloadId(id)) throw new ConfigError('redisPayloadStore: a payload id is 32 lowercase hex digits')
    return `${options.prefix}:payload:${id}`
  }
  return {
    kind: 'redis',
    async put(id, body) {
      await options.client.send(['SET', key(id), body, 'PX', retentionMs])
    },
    async get(id) {
      const value = await options.client.send(['GET', key(id)])
      if (value === null || value === undefined) return undefined
      return typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : String(value)
    },
  }
}
