export type { Authorize, RouteAccess } from './access.js'
export { bearer, PUBLIC_UNAUTHENTICATED } from './access.js'
export type { Refusal } from './request-checks.js'
export { contentTypeRefusal, crossSiteRefusal } from './request-checks.js'
export type { RouteErrorListener } from './responses.js'
export { logRouteError } from './responses.js'
export type { RouteHandler, RouteProtection } from './route-guard.js'
export { guardedRoute } from './route-guard.js'
export type {
  BusSource,
  DeadLetterRoutesOptions,
  DrainRouteOptions,
  EventsMetrics,
  MetricsRouteOptions,
} from './routes.js'
export { acceptsPrometheus, DRAIN_DEFAULTS, deadLetterRoutes, drainRoute, metricsRoute, tierOf } from './routes.js'
export { closeOnShutdown, SHUTDOWN_TIMEOUT_MS } from './shutdown.js'
export type { SharedBusOptions, StartConsumersOptions } from './singleton.js'
export { resetSharedBus, START_CONSUMERS_DEFAULTS, sharedBus, singleton, startConsumers } from './singleton.js'
export type { StreamFilter, StreamMessage, StreamRoute, StreamRouteOptions, StreamStats } from './stream-route.js'
export { RESYNC_EVENT, STREAM_DEFAULTS, streamRoute } from './stream-route.js'
