import type { Capabilities, Transport } from './transport.js'

/** What every one of `all` can do: the weakest of each capability (a composite promises no more). */
export function intersectCapabilities(all: readonly Capabilities[]): Capabilities {
  return Object.freeze({
    persistent: all.every((c) => c.persistent),
    replay: all.every((c) => c.replay),
    ordering: all.every((c) => c.ordering === 'per-key') ? 'per-key' : 'none',
    delay: all.every((c) => c.delay),
    maxPayloadBytes: Math.min(...all.map((c) => c.maxPayloadBytes)),
  })
}

/** The capabilities `transport` has for the types `pattern` reaches (per route on a routed transport). */
export function capabilitiesOf(transport: Transport, pattern: string): Capabilities {
  return transport.capabilitiesFor ? transport.capabilitiesFor(pattern) : transport.capabilities
}
