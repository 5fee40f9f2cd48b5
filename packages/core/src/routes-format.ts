import { ConfigError } from './errors.js'
import { routeTableIssue } from './route-table.js'

/** One entry of a `TIERBUS_ROUTES` value: event types `match` matches go to `tier`. */
export interface RouteSpec {
  /** A subscription pattern, e.g. `coord.>`; `>` is the catch-all. */
  readonly match: string
  /** A `TIERBUS_TRANSPORT` value (`nats`, `sqs`, ...), or a migration `<from>-><to>` (`postgres->sqs`). */
  readonly tier: string
}

const KIND = '[a-z][a-z0-9-]{0,39}'
const TIER = new RegExp(`^${KIND}(?:->${KIND})?$`)
const EXAMPLE = 'coord.>=nats;work.>=sqs;>=redis'

/** The two tiers of a route's migration (`postgres->sqs`), or undefined for a plain tier. */
export function routeMigration(tier: string): { from: string; to: string } | undefined {
  const at = tier.indexOf('->')
  return at < 0 ? undefined : { from: tier.slice(0, at), to: tier.slice(at + 2) }
}

/** Why entry `i` of a route table is not valid, checking the tier only (patterns: `routeTableIssue`). */
function tierIssue(route: RouteSpec, i: number): string | undefined {
  // The tier is not quoted: a value pasted into the wrong variable may be a URL with a password.
  if (typeof route.tier !== 'string' || !TIER.test(route.tier)) {
    return (
      `entry ${i + 1} does not name a tier after '=': ` +
      'use a TIERBUS_TRANSPORT value such as nats, postgres, redis or sqs, or a migration such as postgres->sqs'
    )
  }
  const migration = routeMigration(route.tier)
  if (migration && migration.from === migration.to)
    return `entry ${i + 1} migrates ${migration.from} to itself: name two different tiers, e.g. postgres->sqs`
  return undefined
}

function assertRoutes(routes: readonly RouteSpec[], what: string): void {
  const issue =
    routes.map(tierIssue).find((m) => m !== undefined) ??
    routeTableIssue(
      routes.map((r) => r.match),
      (i) => `entry ${i + 1}`,
    )
  if (issue) throw new ConfigError(`${what}: ${issue} (the format is pattern=tier joined by ';', e.g. ${EXAMPLE})`)
}

/**
 * Parses a `TIERBUS_ROUTES` value: `pattern=tier` entries joined by `;`, first match wins, e.g.
 * `coord.>=nats;work.>=postgres->sqs;>=redis` (spaces around entries and `=` are allowed). Throws a
 * ConfigError naming the entry and what to fix: a missing `=`, an invalid pattern or tier, or a route an
 * earlier one hides. A table without a catch-all `>` is valid: publishing a type no route matches fails.
 */
export function parseRoutes(text: string): RouteSpec[] {
  if (text.trim() === '')
    throw new ConfigError(`TIERBUS_ROUTES is empty: set it to pattern=tier entries joined by ';', e.g. ${EXAMPLE}`)
  const routes = text.split(';').map((entry, i): RouteSpec => {
    const at = entry.indexOf('=')
    if (at < 0) {
      const hint = entry.trim() === '' ? "it is empty (a stray ';'?)" : "it has no '='"
      throw new ConfigError(`TIERBUS_ROUTES entry ${i + 1}: ${hint}; write pattern=tier, e.g. ${EXAMPLE}`)
    }
    return { match: entry.slice(0, at).trim(), tier: entry.slice(at + 1).trim() }
  })
  assertRoutes(routes, 'TIERBUS_ROUTES')
  return routes
}

/** Formats a route table as a `TIERBUS_ROUTES` value that `parseRoutes` reads back unchanged (checked). */
export function formatRoutes(routes: readonly RouteSpec[]): string {
  assertRoutes(routes, 'formatRoutes')
  return routes.map((r) => `${r.match}=${r.tier}`).join(';')
}
