import { ConfigError, TierbusError, ValidationError } from '@tierbus/core'
import type { Refusal } from './request-checks.js'

/** Where a route reports failures whose detail must not reach the response (default: `console.error`). */
export type RouteErrorListener = (error: unknown, context: { readonly route: string; readonly method: string }) => void

/** The default `onError` of the route factories. */
export const logRouteError: RouteErrorListener = (error, context) =>
  console.error(`[tierbus/next] ${context.method} ${context.route} failed:`, error)

/** A JSON response that no cache keeps. */
export const json = (body: unknown, status = 200): Response =>
  Response.json(body, { status, headers: { 'cache-control': 'no-store' } })

/** A refusal as a JSON response: `{ error, code }` with a fixed message. */
export const refusalResponse = (refusal: Refusal): Response =>
  json({ error: refusal.message, code: refusal.code }, refusal.status)

/** A request whose body the route cannot use; its message is fixed text written by the route, safe to send. */
export class BadRequest extends Error {
  readonly code = 'BAD_REQUEST'
}

/**
 * The response for a failed route: only the error's `code` and a generic message. The error itself
 * (which may name hosts, queue names or URLs) goes to `onError`, never to the caller.
 */
export function errorResponse(err: unknown): Response {
  if (err instanceof BadRequest) return json({ error: err.message, code: err.code }, 400)
  if (err instanceof ValidationError) return json({ error: 'the request was not valid', code: err.code }, 400)
  if (err instanceof ConfigError)
    return json({ error: 'the event bus is misconfigured; see the server log', code: err.code }, 500)
  if (err instanceof TierbusError)
    return json({ error: 'the event tier is unavailable; try again later', code: err.code }, 503)
  return json({ error: 'internal error; see the server log', code: 'INTERNAL' }, 500)
}

/** True when the failure is the server's (logged), not the caller's. */
export function isServerError(err: unknown): boolean {
  return !(err instanceof BadRequest) && !(err instanceof ValidationError)
}
