import { describeError } from '../errors.js'

/**
 * Where a tier's link to its backing service stands: `connecting` (first connect or reconnecting),
 * `up` (commands go through), `down` (lost; the tier keeps trying), `closed` (the transport closed).
 */
export type ConnectionStateName = 'connecting' | 'up' | 'down' | 'closed'

/** Called on every change of connection state; `error` is what made the connection go down, when known. */
export type ConnectionStateListener = (state: ConnectionStateName, error?: unknown) => void

/** The options every tier accepts for connection reporting (same names on every tier). */
export interface ConnectionStateOptions {
  /** Called when the connection to the backing service changes state (see `ConnectionStateName`). */
  onConnectionState?: ConnectionStateListener | undefined
}

/** Options of `ConnectionState`. */
export interface ConnectionStateTrackerOptions extends ConnectionStateOptions {
  /** Where a throwing `onConnectionState` listener is reported (it must never break the tier's loops). */
  onError?: (error: unknown) => void
  /** The state before the first report (default `connecting`). */
  initial?: ConnectionStateName
}

/**
 * Tracks one transport's connection state and reports each change once to `onConnectionState`.
 * Repeated reports of the same state are dropped (a flapping poll reports `down` once), and nothing
 * is reported after `closed`.
 */
export class ConnectionState {
  private state: ConnectionStateName
  private readonly listener: ConnectionStateListener | undefined
  private readonly onError: ((error: unknown) => void) | undefined

  constructor(options: ConnectionStateTrackerOptions = {}) {
    this.state = options.initial ?? 'connecting'
    this.listener = options.onConnectionState
    this.onError = options.onError
  }

  /** The current state. */
  get current(): ConnectionStateName {
    return this.state
  }

  /** Reports `state` if it differs from the current one; returns whether it changed. */
  set(state: ConnectionStateName, error?: unknown): boolean {
    if (this.state === state || this.state === 'closed') return false
    this.state = state
    try {
      this.listener?.(state, error)
    } catch (err) {
      this.onError?.(err)
    }
    return true
  }

  /** The service answered: `up`. */
  up(): void {
    this.set('up')
  }

  /** The connection was lost (or a call could not reach the service): `down`, with the reason. */
  down(error?: unknown): void {
    this.set('down', error)
  }

  /** The transport closed: `closed`, reported once; later reports are ignored. */
  closed(): void {
    this.set('closed')
  }

  /**
   * Watches one call to the service: success means `up`; a failure that `isConnectionError` says is
   * about reaching the service means `down`. The call's result or error passes through unchanged.
   */
  async observe<T>(call: Promise<T>, isConnectionError: (error: unknown) => boolean): Promise<T> {
    try {
      const result = await call
      this.up()
      return result
    } catch (err) {
      if (isConnectionError(err)) this.down(err)
      throw err
    }
  }
}

/** Error codes of Node's network stack that mean "the service cannot be reached". */
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
])

/**
 * True when `error` (or one of its causes) is a network failure: a refused, reset or timed-out socket,
 * an unresolvable host, or a `fetch` that failed before any response.
 */
export function isNetworkError(error: unknown): boolean {
  for (
    let e = error, depth = 0;
    e && typeof e === 'object' && depth < 5;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) return true
    const errors = (e as { errors?: unknown }).errors
    if (Array.isArray(errors) && errors.some(isNetworkError)) return true
    if (e instanceof TypeError && /fetch failed/i.test(e.message)) return true
    if (/Connection terminated|connection is closed|socket hang up|ECONNREFUSED|ECONNRESET/i.test(describeError(e)))
      return true
  }
  return false
}
