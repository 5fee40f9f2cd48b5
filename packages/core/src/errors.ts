import { redactSecrets } from './redact.js'

/** Marks tierbus errors across copies of this module (the ESM and CJS builds can both be loaded). */
const BRAND = Symbol.for('tierbus.error')

/** Base class of every error tierbus throws; `code` is stable, the message says what to do. */
export class TierbusError extends Error {
  /** Stable machine-readable code, e.g. `CONFIG`, `VALIDATION`. */
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    // Redacted here so that no path (an option value, an env variable, a client's error) can put a
    // password into a message, a log line, a CLI's output or an HTTP body.
    super(redactSecrets(message), options)
    if (options?.cause !== undefined) redactCause(options.cause)
    this.name = new.target.name
    this.code = code
    Object.defineProperty(this, BRAND, { value: code })
  }

  /**
   * `err instanceof ValidationError` also holds for errors from another copy of @tierbus/core (an app
   * that loads both the ESM and the CJS build, as bundlers and Next.js can): matched by brand and code.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false
    const code = (value as Record<symbol, unknown>)[BRAND]
    if (typeof code !== 'string') return false
    // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass being matched (ValidationError, ...)
    const wanted = (this as unknown as { CODE?: string }).CODE
    return wanted === undefined || wanted === code
  }
}

/**
 * Redacts the message and stack of a wrapped client error in place: loggers print the `cause` chain,
 * and drivers (nats.js, pg, ioredis) echo the connection URL they were given.
 */
function redactCause(cause: unknown, depth = 0): void {
  if (!(cause instanceof Error) || depth > 4) return
  try {
    const message = redactSecrets(cause.message)
    if (message !== cause.message) cause.message = message
    if (typeof cause.stack === 'string') {
      const stack = redactSecrets(cause.stack)
      if (stack !== cause.stack) cause.stack = stack
    }
  } catch {
    // a frozen or exotic error: leave it, our own message is already redacted
  }
  redactCause((cause as { cause?: unknown }).cause, depth + 1)
}

/** Bad configuration (options, env vars, missing packages); thrown at startup, never at first publish. */
export class ConfigError extends TierbusError {
  /** The `code` of this error class (used by `instanceof` across module copies). */
  static readonly CODE = 'CONFIG'

  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIG', message, options)
  }
}

/** One problem found by a schema or envelope check. */
export interface ValidationIssue {
  /** Dotted path of the offending field, `''` for the root. */
  readonly path: string
  readonly message: string
}

/** Data that does not fit its schema, a malformed envelope, or an oversized message. */
export class ValidationError extends TierbusError {
  /** The `code` of this error class (used by `instanceof` across module copies). */
  static readonly CODE = 'VALIDATION'

  /** The individual problems, when a schema reported several. */
  readonly issues: readonly ValidationIssue[]

  constructor(message: string, issues: readonly ValidationIssue[] = [], options?: { cause?: unknown }) {
    super('VALIDATION', message, options)
    this.issues = issues
  }
}

/** The backing service failed or is unreachable; `retryable` says whether trying again may help. */
export class TransportError extends TierbusError {
  /** The `code` of this error class (used by `instanceof` across module copies). */
  static readonly CODE = 'TRANSPORT'

  /** Whether the same call may succeed later (network blip) or will not (missing schema). */
  readonly retryable: boolean

  constructor(message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super('TRANSPORT', message, options)
    this.retryable = options?.retryable ?? true
  }
}

/** An operation (request-reply, close, connect) did not finish within its time limit. */
export class TimeoutError extends TierbusError {
  /** The `code` of this error class (used by `instanceof` across module copies). */
  static readonly CODE = 'TIMEOUT'

  /** The limit that was exceeded, in milliseconds. */
  readonly timeoutMs: number

  constructor(message: string, timeoutMs: number) {
    super('TIMEOUT', message)
    this.timeoutMs = timeoutMs
  }
}

/** Short text for any thrown value, for dead-letter reasons and logs (credentials redacted). */
export function describeError(err: unknown): string {
  return redactSecrets(describeUnredacted(err))
}

function describeUnredacted(err: unknown): string {
  if (err instanceof Error) return err.message ? `${err.name}: ${err.message}` : err.name
  if (typeof err === 'string') return err
  try {
    return JSON.stringify(err) ?? String(err)
  } catch {
    return String(err)
  }
}
