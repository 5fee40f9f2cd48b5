/**
 * `@tierbus/core/adapter`: the mechanics every tier shares, so a tier (built-in or third-party) is
 * only its backend calls. Nothing here is needed to use a bus; it is for writing transports.
 */

export type { AckCoalescerOptions, AckGroup, AckGroupResult } from './ack-coalescer.js'
export { AckCoalescer } from './ack-coalescer.js'
export { renameDeprecatedOptions } from './aliases.js'
export type { ReconnectBackoff, ReconnectOptions } from './backoff.js'
export { RECONNECT_BACKOFF_DEFAULTS, reconnectDelay, reconnectWithBackoff } from './backoff.js'
export { BatchPump } from './batch-pump.js'
export type {
  ConnectionStateListener,
  ConnectionStateName,
  ConnectionStateOptions,
  ConnectionStateTrackerOptions,
} from './connection.js'
export { ConnectionState, isNetworkError } from './connection.js'
export type { PublishDeadlineOptions } from './deadline.js'
export { DEFAULT_PUBLISH_TIMEOUT_MS, resolvePublishTimeout, withDeadline } from './deadline.js'
export { envVar, parseEnv, positiveInt } from './env-vars.js'
export { warnErrorListener } from './error-listener.js'
export type { FetchLoopOptions } from './fetch-loop.js'
export { FETCH_LOOP_DEFAULTS, FetchLoop } from './fetch-loop.js'
export { handOff } from './hand-off.js'
export { InFlight, InFlightSlot } from './in-flight.js'
export { LeaseKeeper } from './lease-keeper.js'
export { SettleOnce } from './settle-once.js'
export { SharedIntake } from './shared-intake.js'
export { unrefTimer } from './unref.js'
export { WakeableSleep } from './wakeable-sleep.js'
