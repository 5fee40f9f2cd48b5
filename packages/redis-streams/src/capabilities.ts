import type { Capabilities } from '@tierbus/core'

/** Default largest encoded envelope: 1 MiB (Redis takes 512 MB, but big stream entries hurt every reader; Upstash caps request size). */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024

/**
 * Tier 2 capabilities. Per-key order for `ordered: true` subscriptions: each stream (one per event type)
 * is read by one member of the group at a time, under a lease that moves when the member dies
 * (see ownership.ts); other subscriptions read every stream with all members at once.
 */
export const REDIS_CAPABILITIES: Capabilities = Object.freeze({
  persistent: true,
  replay: true,
  ordering: 'per-key',
  delay: true,
  maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
})

/** The capabilities of a transport with a given payload limit. */
export function redisCapabilities(maxPayloadBytes: number): Capabilities {
  return maxPayloadBytes === REDIS_CAPABILITIES.maxPayloadBytes
    ? REDIS_CAPABILITIES
    : Object.freeze({ ...REDIS_CAPABILITIES, maxPayloadBytes })
}
