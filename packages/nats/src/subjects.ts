import { createHash } from 'node:crypto'
import { ConfigError, INBOX_PREFIX, isInboxType } from '@tierbus/core'

/**
 * How tierbus names map onto NATS subjects, streams and consumers. Event types and patterns already
 * use NATS syntax (`agent.*.heartbeat`, `work.nlp.>`), so a type `t` travels on `<prefix>.<t>` and a
 * pattern becomes a consumer `filter_subject` unchanged: wildcards are native.
 */

const PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/
const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/

/** Event types under this first token are request-reply inboxes: carried on core NATS, never stored. */
export const INBOX_TOKEN = INBOX_PREFIX

/** Throws a ConfigError unless `prefix` is dot-separated tokens of letters, digits, `_`, `-`. */
export function assertPrefix(prefix: string): void {
  if (typeof prefix !== 'string' || prefix.length === 0 || prefix.length > 100 || !PREFIX.test(prefix)) {
    throw new ConfigError(
      `invalid NATS subject prefix ${JSON.stringify(prefix)}: use dot-separated tokens of letters, digits, '_' or '-' (e.g. "tierbus" or "acme.prod"), no wildcards, at most 100 characters`,
    )
  }
}

/** Throws a ConfigError unless `name` is a valid JetStream stream name. */
export function assertStreamName(name: string): void {
  if (typeof name !== 'string' || !STREAM_NAME.test(name)) {
    throw new ConfigError(
      `invalid JetStream stream name ${JSON.stringify(name)}: use 1-64 letters, digits, '_' or '-' (no '.', '*', '>' or spaces)`,
    )
  }
}

/** The subjects one transport uses, all derived from its prefix. */
export class SubjectMap {
  /** Subjects of dead letters: `<prefix>_dlq.<durable>`. */
  readonly deadLetterRoot: string
  /** Subjects of request-reply inboxes: `<prefix>_inbox.<id>`, outside every stream. */
  readonly inboxRoot: string

  constructor(readonly prefix: string) {
    assertPrefix(prefix)
    this.deadLetterRoot = `${prefix}_dlq`
    this.inboxRoot = `${prefix}${INBOX_TOKEN}`
  }

  /** The subject an event of `type` is published on (a pattern gives the matching filter subject). */
  subjectFor(typeOrPattern: string): string {
    if (isInboxType(typeOrPattern)) return `${this.inboxRoot}.${typeOrPattern.slice(INBOX_TOKEN.length + 1)}`
    return `${this.prefix}.${typeOrPattern}`
  }

  /** The event type carried on `subject`, or undefined when the subject is not under this prefix. */
  typeOf(subject: string): string | undefined {
    return subject.startsWith(`${this.prefix}.`) ? subject.slice(this.prefix.length + 1) : undefined
  }

  /** The subject a group's dead letters are stored on. */
  deadLetterSubject(durable: string): string {
    return `${this.deadLetterRoot}.${durable}`
  }
}

/**
 * Durable consumer name of a (group, pattern): readable group part plus a hash of both, since
 * group names may hold `.`/`:` and patterns `*`/`>`, which consumer names may not.
 */
export function durableName(group: string, pattern: string): string {
  const readable = group.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40)
  const hash = createHash('sha256').update(`${group}\u0000${pattern}`).digest('hex').slice(0, 12)
  return `${readable}_${hash}`
}

/**
 * Does every subject matching `inner` also match `outer`? (NATS subject subset, with `*` and `>`.)
 * Used to find the one stream whose subjects hold a subscription's pattern.
 */
export function subjectWithin(inner: string, outer: string): boolean {
  const a = inner.split('.')
  const b = outer.split('.')
  for (const [i, o] of b.entries()) {
    const t = a[i]
    if (t === undefined) return false
    if (o === '>') return true
    if (t === '>') return false
    if (o === '*') continue
    if (t !== o) return false
  }
  return a.length === b.length
}

/** Could some subject match both `x` and `y`? (Two stream subject sets overlap.) */
export function subjectsOverlap(x: string, y: string): boolean {
  const a = x.split('.')
  const b = y.split('.')
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const s = a[i]
    const t = b[i]
    if (s === '>' || t === '>') return s !== undefined && t !== undefined
    if (s === undefined || t === undefined) return false
    if (s !== '*' && t !== '*' && s !== t) return false
  }
  return true
}
