import { ConfigError, ValidationError } from './errors.js'

/**
 * Event types and subscription patterns are dot-separated tokens, as NATS subjects:
 * `feedback.created`, `agent.a1.heartbeat`. Patterns may use `*` for exactly one token and
 * `>` (last token only) for one or more remaining tokens: `agent.*.heartbeat`, `work.nlp.>`.
 */
const TOKEN = /^[A-Za-z0-9_-]+$/

/**
 * The event-type grammar, precompiled (checked on every publish and every decode): dot-separated
 * tokens of letters, digits, `_` and `-`. No space, CR, LF, tab, NUL, wildcard or empty token can pass,
 * so a type is safe to put into a NATS subject, a Redis key or an SNS attribute as is.
 */
const EVENT_TYPE = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/

/** Longest event type, in characters. */
export const MAX_EVENT_TYPE_LENGTH = 200

/** First token of request-reply inbox types. */
export const INBOX_PREFIX = '_inbox'

/**
 * The exact inbox grammar core generates (`newInboxType`): `_inbox.` and 16 lowercase hex digits.
 * The only value a `replyto` may hold: anything else is a forged reply target.
 */
const INBOX_TYPE = /^_inbox\.[0-9a-f]{16}$/

const INVALID_TYPE_HINT = `use dot-separated tokens of letters, digits, '_' or '-' (e.g. "feedback.created"), at most ${MAX_EVENT_TYPE_LENGTH} characters`

/** A short, printable rendering of an untrusted value for an error message (control characters escaped). */
function preview(value: unknown): string {
  if (typeof value !== 'string') return value === null ? 'null' : typeof value
  return JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value)
}

/** True when `value` is a concrete event type (no wildcards, no whitespace or control characters). */
export function isEventType(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_EVENT_TYPE_LENGTH && EVENT_TYPE.test(value)
}

/** True when `value` is a request-reply inbox type in the exact grammar core generates (`_inbox.<16 hex>`). */
export function isInboxType(value: unknown): value is string {
  return typeof value === 'string' && value.length === 23 && INBOX_TYPE.test(value)
}

/** A new, unguessable request-reply inbox type: `_inbox.<16 lowercase hex>`. */
export function newInboxType(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(8))
  return `${INBOX_PREFIX}.${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`
}

/** Throws a ConfigError unless `type` is a concrete event type (no wildcards). */
export function assertEventType(type: string): void {
  if (!isEventType(type)) throw new ConfigError(`invalid event type ${JSON.stringify(type)}: ${INVALID_TYPE_HINT}`)
}

/**
 * Why `type` may not be published (undefined when it may): an event type, or exactly an inbox type when
 * it starts with `_inbox.`. What every tier checks at its own publish boundary, before `type` becomes a
 * subject, key or attribute.
 */
export function publishableTypeIssue(type: unknown): string | undefined {
  // Publishes come in runs of one type: the last type that passed is not checked again.
  if (type === lastPublishable) return undefined
  if (!isEventType(type)) return `invalid event type ${preview(type)}: ${INVALID_TYPE_HINT}`
  if (type.startsWith(`${INBOX_PREFIX}.`) && !isInboxType(type)) {
    return `invalid inbox type ${preview(type)}: request-reply inboxes are exactly '${INBOX_PREFIX}.' and 16 lowercase hex digits, as bus.request() creates them`
  }
  lastPublishable = type
  return undefined
}

let lastPublishable: string | undefined

/** Why `replyto` is not a valid reply target (undefined when it is): only core's inbox grammar is. */
export function replyToIssue(replyto: unknown): string | undefined {
  if (isInboxType(replyto)) return undefined
  return `invalid replyto ${preview(replyto)}: a reply target must be exactly '${INBOX_PREFIX}.' and 16 lowercase hex digits (a request-reply inbox created by bus.request())`
}

/** Throws a ValidationError unless `type` may be published (event-type grammar, or exactly the inbox grammar). */
export function assertPublishableType(type: unknown): asserts type is string {
  const issue = publishableTypeIssue(type)
  if (issue) throw new ValidationError(issue, [{ path: 'type', message: issue }])
}

/** Throws a ConfigError unless `pattern` is a valid subscription pattern. */
export function assertPattern(pattern: string): void {
  const tokens = typeof pattern === 'string' && pattern.length <= 200 ? pattern.split('.') : []
  const ok =
    tokens.length > 0 && tokens.every((t, i) => TOKEN.test(t) || t === '*' || (t === '>' && i === tokens.length - 1))
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

/** True for a first pattern token that is `*` or `>` (it never matches a tierbus-internal type). */
const isWildToken = (token: string | undefined) => token === '*' || token === '>'

/** True when one pattern's first token is a wildcard and the other's an internal literal (`_inbox`): disjoint. */
function internalMismatch(a: readonly string[], b: readonly string[]): boolean {
  const [a0 = '', b0 = ''] = [a[0], b[0]]
  return (isWildToken(a0) && isInternalType(b0)) || (isWildToken(b0) && isInternalType(a0))
}

/** True when every event type `inner` matches is also matched by `outer` (both valid patterns). */
export function patternCovers(outer: string, inner: string): boolean {
  const o = outer.split('.')
  const i = inner.split('.')
  if (internalMismatch(o, i)) return false
  for (let k = 0; k < o.length; k++) {
    if (o[k] === '>') return i.length > k
    if (k >= i.length || i[k] === '>') return false
    if (o[k] !== '*' && (i[k] === '*' || o[k] !== i[k])) return false
  }
  return o.length === i.length
}

/**
 * The pattern matching exactly the types both patterns match, or undefined when no type matches both
 * (`work.>` and `*.nlp.*` give `work.nlp.*`; `coord.>` and `work.>` give undefined).
 */
export function patternIntersection(a: string, b: string): string | undefined {
  const x = a.split('.')
  const y = b.split('.')
  if (internalMismatch(x, y)) return undefined
  const out: string[] = []
  for (let k = 0; ; k++) {
    // `>` stands for one or more tokens: the other pattern's rest, when it has one.
    if (x[k] === '>') return y.length > k ? [...out, ...y.slice(k)].join('.') : undefined
    if (y[k] === '>') return x.length > k ? [...out, ...x.slice(k)].join('.') : undefined
    if (k >= x.length || k >= y.length) return x.length === y.length ? out.join('.') : undefined
    const [p = '', q = ''] = [x[k], y[k]]
    if (p === '*') out.push(q)
    else if (q === '*' || p === q) out.push(p)
    else return undefined
  }
}
