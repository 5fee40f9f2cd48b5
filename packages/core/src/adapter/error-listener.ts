import { describeError } from '../errors.js'
import type { TransportErrorListener } from '../transport.js'

/**
 * The default `onError` of a tier: one `console.warn` line naming the tier, the operation and the group,
 * e.g. `[tierbus/redis] fetch (group billing): connection refused`.
 */
export function warnErrorListener(tier: string): TransportErrorListener {
  return (error, context) => {
    const group = context.group ? ` (group ${context.group})` : ''
    console.warn(`[tierbus/${tier}] ${context.operation}${group}: ${describeError(error)}`)
  }
}
