import type { Capabilities } from '@tierbus/core'

/** Default largest encoded envelope: 1 MiB (Redis takes 512 MB, but big stream entries hurt every reader; Upstash caps request size). */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024

/**
 * Tier 2 capabilities. Order is kept per stream (one stream per event type) for a single consumer, but
 * competing consumers of one group read the same stream concurrently, so no per-key promise: `none`.
 */
export const REDIS_CAPABILITIES: Capabilities = Object.freeze({
  persistent: true,
  replay: true,
  ordering: 'none',
  delay: true,
  maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
})

/** The capabilities of a transport with a given payload limit. */
export function redisCapabilities(maxPayloadBytes: number): Capabilities {
  return maxPayloadBytes === REDIS_CAPABILITIES.maxPayloadBytes ? REDIS_CAPABILITIES : Object.freeze({ ...REDIS_CAPABILITIES, maxPayloadBytes })
}
