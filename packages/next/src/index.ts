export { bearer, deadLetterRoutes, drainRoute, DRAIN_DEFAULTS, metricsRoute, tierOf } from './routes.js'
export type { Authorize, BusSource, DeadLetterRoutesOptions, DrainRouteOptions, EventsMetrics, MetricsRouteOptions } from './routes.js'
export { resetSharedBus, sharedBus, singleton } from './singleton.js'
