import { ConfigError } from './errors.js'
import { assertPattern, compilePattern, isInternalType, patternCovers, patternIntersection } from './subjects.js'

/** One route: event types `match` matches go to `target`. */
export interface RouteEntry<T> {
  readonly match: string
  readonly target: T
}

/**
 * Why a route table cannot work (undefined when it can): an invalid pattern, or a route no type can
 * reach because an earlier one matches everything it matches (first match wins). `label(i)` names entry i
 * in the message; patterns are checked before they are quoted.
 */
export function routeTableIssue(matches: readonly string[], label: (i: number) => string): string | undefined {
  if (matches.length === 0) return 'no routes: give at least one, e.g. a catch-all ">"'
  for (const [i, match] of matches.entries()) {
    try {
      assertPattern(match)
    } catch {
      return (
        `${label(i)}: the pattern is not valid: ` +
        `use dot-separated tokens, '*' for one token, '>' as the last token (e.g. "coord.>")`
      )
    }
    const earlier = matches.findIndex((m, k) => k < i && patternCovers(m, match))
    if (earlier >= 0) {
      return (
        `${label(i)} ("${match}") is never used: ${label(earlier)} ("${matches[earlier]}") already matches every ` +
        'type it does (first match wins); move it before that route or remove it'
      )
    }
  }
  return undefined
}

/**
 * An ordered route table: the first route whose pattern matches a type takes it. Tierbus-internal types
 * (request-reply inboxes `_inbox.*`, migration relays) are matched only by a route that names their first
 * token (`_inbox.>`); without one they take the first route, so both ends of a request agree on a tier.
 */
export class RouteTable<T> {
  private readonly matchers: ReadonlyArray<(type: string) => boolean>
  private readonly cache = new Map<string, T | undefined>()

  constructor(readonly routes: readonly RouteEntry<T>[]) {
    const issue = routeTableIssue(
      routes.map((r) => r.match),
      (i) => `route ${i + 1}`,
    )
    if (issue) throw new ConfigError(`routedTransport({ routes }): ${issue}`)
    this.matchers = routes.map((r) => compilePattern(r.match))
  }

  /** The target of `type`, or undefined when no route matches it. */
  targetOf(type: string): T | undefined {
    if (this.cache.has(type)) return this.cache.get(type)
    let target = this.routes.find((_, i) => this.matchers[i]?.(type))?.target
    if (target === undefined && isInternalType(type)) target = this.routes[0]?.target
    // Types are few in a real app; the bound keeps a flood of distinct types from growing it without end.
    if (this.cache.size >= 10_000) this.cache.clear()
    this.cache.set(type, target)
    return target
  }

  /**
   * The distinct targets events matching `pattern` can be routed to, in route order: each route some type
   * of the pattern reaches, skipping routes one earlier route shadows for that pattern. (A route only the
   * union of several earlier ones shadows still counts: subscribing there is harmless, nothing arrives.)
   */
  targetsOf(pattern: string): T[] {
    const out: T[] = []
    const add = (t: T) => {
      if (!out.includes(t)) out.push(t)
    }
    for (const [i, route] of this.routes.entries()) {
      const common = patternIntersection(pattern, route.match)
      if (common === undefined) continue
      if (this.routes.some((earlier, k) => k < i && patternCovers(earlier.match, common))) continue
      add(route.target)
    }
    const first = this.routes[0]
    if (first && isInternalType(pattern) && !this.routes.some((r) => patternCovers(r.match, pattern))) add(first.target)
    return out
  }
}
