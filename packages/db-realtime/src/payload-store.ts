import { ConfigError, isPayloadId, PAYLOAD_RETENTION_DEFAULT_MS, type PayloadStore } from '@tierbus/core'
import type { DbDriver } from './driver.js'

/** Options of the db tier's payload store. */
export interface DbPayloadStoreOptions {
  /** How long a body is kept, ms; default 7 days. Keep it at least as long as the events are. */
  retentionMs?: number
}

/**
 * Claim-check bodies in the db tier's own `payloads` table (migration 5), through the same SQL functions on
 * every driver (pg, PGlite, Supabase RPC). Expired bodies are removed a hundred at a time by later puts.
 * The store shares the transport's connections and never closes them.
 */
export function dbPayloadStore(driver: DbDriver, options: DbPayloadStoreOptions = {}): PayloadStore {
  const retentionMs = options.retentionMs ?? PAYLOAD_RETENTION_DEFAULT_MS
  if (!Number.isInteger(retentionMs) || retentionMs <= 0)
    throw new ConfigError('payloadStore({ retentionMs }): a positive whole number of milliseconds')
  const checked = (id: string) => {
    // Defence in depth: claim-check validates references already (and the table's CHECK refuses others).
    if (!isPayloadId(id)) throw new ConfigError('db payload store: a payload id is 32 lowercase hex digits')
    return id
  }
  return {
    kind: driver.kind,
    async put(id, body) {
      await driver.call('payload_put', [checked(id), body, retentionMs])
    },
    async get(id) {
      const [row] = await driver.call('payload_get', [checked(id)])
      const value = row?.value
      return typeof value === 'string' ? value : undefined
    },
  }
}
