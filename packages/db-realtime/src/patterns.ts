import { assertPattern, compilePattern, literalPrefix } from '@tierbus/core'

/** How a subscription pattern is matched inside Postgres and in the wake-up filter. */
export interface SqlPattern {
  /** Literal prefix every matching type starts with (cheap `starts_with` check before the regex). */
  readonly prefix: string
  /** Anchored Postgres regular expression (ARE) equivalent to the NATS-style pattern; passed as a parameter. */
  readonly regex: string
  /** The same pattern as a JS predicate, used to decide which subscriptions a NOTIFY hint wakes. */
  readonly matches: (type: string) => boolean
}

/**
 * Translates a NATS-style pattern to SQL matching data. Tokens are validated by core's `assertPattern`
 * (letters, digits, `_`, `-`, `*`, `>`), so the regex built here contains no user-controlled metacharacters;
 * it is stored in the groups table and used as a value (`type ~ pattern_regex`), never spliced into SQL.
 */
export function sqlPattern(pattern: string): SqlPattern {
  assertPattern(pattern)
  const regex = pattern
    .split('.')
    .map((t) => (t === '*' ? '[^.]+' : t === '>' ? '[^.]+(\\.[^.]+)*' : t))
    .join('\\.')
  // A leading wildcard never matches tierbus-internal types (`_inbox.*`, `_migration.*`), as in core.
  const internalGuard = pattern.startsWith('*') || pattern.startsWith('>') ? '(?!_)' : ''
  return { prefix: literalPrefix(pattern), regex: `^${internalGuard}${regex}$`, matches: compilePattern(pattern) }
}
