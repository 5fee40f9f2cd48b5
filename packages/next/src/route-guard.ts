import { type RouteAccess, routeAccess } from './access.js'
import { contentTypeRefusal, crossSiteRefusal, isUnsafeMethod } from './request-checks.js'
import {
  errorResponse,
  isServerError,
  json,
  logRouteError,
  type RouteErrorListener,
  refusalResponse,
} from './responses.js'

/** Protection options every route factory takes. */
export interface RouteProtection {
  /**
   * Who may call the route: a check such as `bearer(process.env.TIERBUS_ADMIN_TOKEN)`, or
   * `PUBLIC_UNAUTHENTICATED` to open it deliberately. Required: a route without it is a ConfigError.
   */
  authorize: RouteAccess
  /** Origins (e.g. `https://admin.example.com`) besides the app's own that may send POST/DELETE from a browser. */
  allowedOrigins?: readonly string[]
  /** Receives failures; responses carry only a code and a generic message (default: `console.error`). */
  onError?: RouteErrorListener
}

/** A Web `Request → Response` route handler. */
export type RouteHandler = (request: Request) => Promise<Response>

/**
 * Wraps a route body with its protection, checked in this order: a mutating request must be JSON (415)
 * and same-origin (403), then `authorize` must accept it (401); failures become code-only JSON errors.
 * Throws a ConfigError at creation when `authorize` is missing.
 */
export function guardedRoute(
  route: string,
  protection: RouteProtection,
  run: (request: Request) => Promise<Response>,
): RouteHandler {
  const authorize = routeAccess(route, protection.authorize)
  const onError = protection.onError ?? logRouteError
  return async (request) => {
    if (isUnsafeMethod(request)) {
      const refusal = contentTypeRefusal(request) ?? crossSiteRefusal(request, protection.allowedOrigins)
      if (refusal) return refusalResponse(refusal)
    }
    try {
      if (!(await authorize(request))) return json({ error: 'unauthorized', code: 'UNAUTHORIZED' }, 401)
      return await run(request)
    } catch (err) {
      if (isServerError(err)) onError(err, { route, method: request.method })
      return errorResponse(err)
    }
  }
}
