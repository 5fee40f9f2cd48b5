/** Marks tierbus errors across copies of this module (the ESM and CJS builds can both be loaded). */
const BRAND = Symbol.for('tierbus.error')

/** Base class of every error tierbus throws; `code` is stable, the message says what to do. */
export class TierbusError extends Error {
  /** Stable machine-readable code, e.g. `CONFIG`, `VALIDATION`. */
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
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
    const wanted = (this as unknown as { CODE?: string }).CODE
    return wanted === undefined || wanted === code
  }
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

/** Short text for any thrown value, for dead-letter reasons and logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message ? `${err.name}: ${err.message}` : err.name
  if (typeof err === 'string') return err
  try {
    return JSON.stringify(err) ?? String(err)
  } catch {
    return String(err)
  }
}
