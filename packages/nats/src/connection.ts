import { TransportError } from '@tierbus/core'
import {
  type ConnectionState,
  RECONNECT_BACKOFF_DEFAULTS,
  type ReconnectBackoff,
  reconnectDelay,
  reconnectWithBackoff,
  withDeadline,
} from '@tierbus/core/adapter'
import { type ConnectionOptions, connect, DebugEvents, Events, type NatsConnection } from 'nats'

/** What the live NATS connection needs: how to connect, the backoff, and where to report. */
export interface NatsLinkOptions {
  /** Everything `connect()` gets (servers, auth, ping, reconnect limits ...). */
  readonly connect: ConnectionOptions
  /** Delays between reconnect attempts (the client's own and the rebuild's). */
  readonly backoff: ReconnectBackoff
  readonly state: ConnectionState
  readonly onError: (error: unknown) => void
  /** Called with the new connection after the client gave up and the link connected again. */
  readonly onRebuilt: (connection: NatsConnection) => Promise<void>
}

/**
 * The transport's connection to NATS, kept alive for as long as the transport is open. The client
 * reconnects by itself (unlimited attempts by default, `backoff` between them); should it give up
 * anyway (a finite `maxReconnectAttempts`, a fatal protocol error), the link builds a new connection
 * with the same backoff and hands it to `onRebuilt`, which re-establishes the subscriptions (pull
 * consumers are durable, so resuming their fetch loops is enough). States go to `state`.
 */
export class NatsLink {
  private nc: NatsConnection
  private readonly closing = new AbortController()

  private constructor(
    first: NatsConnection,
    private readonly options: NatsLinkOptions,
    private readonly waits: ReconnectWait,
    /** False for an app's connection: never closed nor rebuilt here. */
    private readonly owned: boolean,
  ) {
    this.nc = first
    this.watch(first)
  }

  /** Connects once (startup fails fast with the client's error) and starts watching the connection. */
  static async open(options: NatsLinkOptions): Promise<NatsLink> {
    options.state.set('connecting')
    const waits = new ReconnectWait(options.backoff)
    const nc = await connect(clientOptions(options, waits))
    options.state.up()
    return new NatsLink(nc, options, waits, true)
  }

  /** Follows an app-owned connection: its states are reported, but close() and a dropped connection leave it be. */
  static adopt(nc: NatsConnection, options: NatsLinkOptions): NatsLink {
    if (nc.isClosed()) throw new TransportError('natsTransport({ client }): the given NATS connection is closed')
    options.state.up()
    return new NatsLink(nc, options, new ReconnectWait(options.backoff), false)
  }

  /** The live connection (replaced after a rebuild). */
  get connection(): NatsConnection {
    return this.nc
  }

  /**
   * Stops rebuilding and closes the connection, first flushing what is buffered for at most
   * `flushTimeoutMs`, so a close never waits on a server that is away.
   */
  async close(flushTimeoutMs: number): Promise<void> {
    this.closing.abort()
    const nc = this.nc
    if (!nc.isClosed()) {
      await withDeadline(nc.flush(), flushTimeoutMs, 'NATS flush on close').catch(() => {})
      if (this.owned) await nc.close().catch(() => {})
    }
    this.options.state.closed()
  }

  /** Follows the client's status events, and rebuilds when the connection closes without `close()`. */
  private watch(nc: NatsConnection): void {
    void (async () => {
      for await (const status of nc.status()) {
        if (this.nc !== nc) return
        if (status.type === Events.Disconnect) {
          this.waits.reset()
          this.options.state.down(new TransportError(`NATS connection to ${String(status.data)} lost; reconnecting`))
        } else if (status.type === DebugEvents.Reconnecting) this.options.state.set('connecting')
        else if (status.type === Events.Reconnect) this.options.state.up()
        else if (status.type === Events.Error)
          this.options.onError(new TransportError(`NATS server reported: ${String(status.data)}`))
      }
    })().catch((err) => this.options.onError(err))
    void nc.closed().then((err) => {
      if (this.closing.signal.aborted || this.nc !== nc) return
      if (!this.owned) {
        const closed = 'the app closed the NATS connection it gave natsTransport; tierbus does not reopen it'
        this.options.state.down(err ?? new TransportError(closed))
        return
      }
      this.options.state.down(err ?? new TransportError('the NATS client closed its connection'))
      void this.rebuild()
    })
  }

  /**
   * Connects again with backoff until a new connection is up AND `onRebuilt` re-established everything
   * on it; an attempt that fails halfway (the server went away again) closes its connection and retries.
   */
  private async rebuild(): Promise<void> {
    const nc = await reconnectWithBackoff(() => this.reconnectOnce(), {
      backoff: this.options.backoff,
      signal: this.closing.signal,
      onAttemptFailed: (err) => this.options.state.down(err),
    })
    if (!nc) return
    this.watch(nc)
    this.options.state.up()
  }

  private async reconnectOnce(): Promise<NatsConnection> {
    this.options.state.set('connecting')
    this.waits.reset()
    const nc = await connect(clientOptions(this.options, this.waits))
    try {
      if (this.closing.signal.aborted)
        throw new TransportError('the NATS transport closed while reconnecting', { retryable: false })
      this.nc = nc
      await this.options.onRebuilt(nc)
      return nc
    } catch (err) {
      await nc.close().catch(() => {})
      throw err
    }
  }
}

/**
 * The client's reconnect wait, growing with `backoff` (exponential, jittered, capped) over the time the
 * connection has been down. nats.js asks for the wait on every turn of its dial loop, not once per
 * attempt, so the wait is derived from the time since the disconnect and fixed per step (its jitter
 * is not re-rolled on each turn).
 */
class ReconnectWait {
  private downSince = Date.now()
  private step = 0
  private wait = 0

  constructor(private readonly backoff: ReconnectBackoff) {}

  /** The connection dropped (or a new connection starts): begin again from the first step. */
  reset(): void {
    this.downSince = Date.now()
    this.step = 0
  }

  /** The wait between attempts now (the `reconnectDelayHandler` of nats.js). */
  next(): number {
    const initial = this.backoff.initialDelayMs ?? RECONNECT_BACKOFF_DEFAULTS.initialDelayMs
    const elapsed = Date.now() - this.downSince
    const step = 1 + Math.floor(Math.log2(1 + elapsed / initial))
    if (step !== this.step) {
      this.step = step
      this.wait = reconnectDelay(step, this.backoff)
    }
    return this.wait
  }
}

/** The client's options: the caller's, with the growing reconnect wait unless the caller set its own. */
function clientOptions(options: NatsLinkOptions, waits: ReconnectWait): ConnectionOptions {
  return { ...options.connect, reconnectDelayHandler: options.connect.reconnectDelayHandler ?? (() => waits.next()) }
}
