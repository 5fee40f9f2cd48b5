export { CONFORMANCE_DEFAULTS, runTransportConformance } from './conformance.js'
export type { ConformanceOptions, TransportFactory } from './conformance.js'
export { eventually, gate, quietPeriod, uniqueToken } from './eventually.js'
export type { EventuallyOptions } from './eventually.js'
