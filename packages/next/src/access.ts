import { ConfigError } from '@tierbus/core'

/** Decides whether a request may call a route (e.g. checks Vercel Cron's `Authorization: Bearer <CRON_SECRET>`). */
export type Authorize = (request: Request) => boolean | Promise<boolean>

/**
 * The explicit opt-out of authorization: `authorize: PUBLIC_UNAUTHENTICATED` lets anyone on the network
 * call the route. Dead letters hold event payloads (often personal data) and the mutating routes move
 * or delete them, so use it only for local demos or behind a gateway that authenticates for you.
 */
export const PUBLIC_UNAUTHENTICATED: unique symbol = Symbol.for('tierbus.next.PUBLIC_UNAUTHENTICATED')

/** What a route factory's `authorize` option accepts: a check, or the loud public opt-out. */
export type RouteAccess = Authorize | typeof PUBLIC_UNAUTHENTICATED

/**
 * Resolves a route factory's `authorize` option at creation (app startup): a route without one is a
 * ConfigError, so no route is open by accident.
 */
export function routeAccess(route: string, authorize: RouteAccess | undefined): Authorize {
  if (authorize === PUBLIC_UNAUTHENTICATED) return () => true
  if (typeof authorize === 'function') return authorize
  throw new ConfigError(
    `${route}: pass authorize (e.g. authorize: bearer(process.env.TIERBUS_ADMIN_TOKEN)) or, for a deliberately open route, authorize: PUBLIC_UNAUTHENTICATED; ` +
      'routes are never open by default because dead letters hold event payloads and these routes move and delete them',
  )
}

const encoder = new TextEncoder()

/** SHA-256 of `text` through Web Crypto (Node, Edge runtime and browsers alike). */
const digest = async (text: string): Promise<Uint8Array> =>
  new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)))

/** Compares two equal-length byte strings in time that does not depend on where they differ. */
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0)
  return diff === 0
}

/**
 * `Authorization: Bearer <secret>` check, as Vercel Cron sends with CRON_SECRET. The comparison takes the
 * same time whatever the header holds: both sides are hashed to equal-length SHA-256 digests (Web Crypto,
 * so the check runs in the Edge runtime too) and compared without an early exit.
 */
export function bearer(secret: string | undefined): Authorize {
  if (!secret)
    throw new ConfigError(
      'bearer(secret): the secret is empty; set CRON_SECRET / TIERBUS_ADMIN_TOKEN (or pass the token your scheduler sends)',
    )
  const expected = digest(`Bearer ${secret}`)
  return async (request) => equalBytes(await digest(request.headers.get('authorization') ?? ''), await expected)
}
