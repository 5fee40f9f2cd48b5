import { ConfigError } from './errors.js'

/**
 * Event types and subscription patterns are dot-separated tokens, as NATS subjects:
 * `feedback.created`, `agent.a1.heartbeat`. Patterns may use `*` for exactly one token and
 * `>` (last token only) for one or more remaining tokens: `agent.*.heartbeat`, `work.nlp.>`.
 */
const TOKEN = /^[A-Za-z0-9_-]+$/

/** Throws a ConfigError unless `type` is a concrete event type (no wildcards). */
export function assertEventType(type: string): void {
  if (typeof type !== 'string' || type.length === 0 || type.length > 200 || !type.split('.').every((t) => TOKEN.test(t))) {
    throw new ConfigError(
      `invalid event type ${JSON.stringify(type)}: use dot-separated tokens of letters, digits, '_' or '-' (e.g. "feedback.created"), at most 200 characters`,
    )
  }
}

/** Throws a ConfigError unless `pattern` is a valid subscription pattern. */
export function assertPattern(pattern: string): void {
  const tokens = typeof pattern === 'string' && pattern.length <= 200 ? pattern.split('.') : []
  const ok =
    tokens.length > 0 &&
    tokens.every((t, i) => TOKEN.test(t) || t === '*' || (t === '>' && i === tokens.length - 1))
  if (!ok) {
    throw new ConfigError(
      `invalid subscription pattern ${JSON.stringify(pattern)}: use dot-separated tokens, '*' for one token, '>' as the last token for the rest (e.g. "agent.*.heartbeat", "work.nlp.>")`,
    )
  }
}

/** True when the pattern contains `*` or `>`. */
export function isWildcard(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('>')
}

/**
 * True for tierbus-internal types (first token starting with `_`: request-reply inboxes, migration
 * relays). A wildcard in the first token never matches them; only a literal first token does.
 */
export function isInternalType(type: string): boolean {
  return type.charCodeAt(0) === 95 /* _ */
}

/** Compiles a pattern into a predicate over event types. */
export function compilePattern(pattern: string): (type: string) => boolean {
  assertPattern(pattern)
  if (!isWildcard(pattern)) return (type) => type === pattern
  const source = pattern
    .split('.')
    .map((t) => (t === '*' ? '[^.]+' : t === '>' ? '[^.]+(?:\\.[^.]+)*' : t.replace(/-/g, '\\-')))
    .join('\\.')
  const re = new RegExp(`^${source}$`)
  const first = pattern.split('.')[0]
  if (first === '*' || first === '>') return (type) => !isInternalType(type) && re.test(type)
  return (type) => re.test(type)
}

/** Does `type` match `pattern`? */
export function matchesPattern(pattern: string, type: string): boolean {
  return compilePattern(pattern)(type)
}

/**
 * The longest literal prefix of a pattern, e.g. `work.nlp.` for `work.nlp.>`: what tiers without
 * wildcards (SNS prefix filter policies, SQL `LIKE`) narrow on before matching exactly.
 */
export function literalPrefix(pattern: string): string {
  const tokens = pattern.split('.')
  const literal: string[] = []
  for (const t of tokens) {
    if (t === '*' || t === '>') return literal.length ? `${literal.join('.')}.` : ''
    literal.push(t)
  }
  return pattern
}
