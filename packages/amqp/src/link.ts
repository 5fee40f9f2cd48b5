import { TransportError } from '@tierbus/core'
import { type ConnectionState, type ReconnectBackoff, reconnectWithBackoff } from '@tierbus/core/adapter'
import { type ChannelModel, type ConfirmChannel, connect } from 'amqplib'
import { Publisher } from './publisher.js'

/** What the live AMQP connection needs. */
export interface AmqpLinkOptions {
  readonly url: string
  readonly connectionName: string
  readonly heartbeatSeconds: number
  readonly backoff: ReconnectBackoff
  readonly socketOptions: Record<string, unknown>
  readonly state: ConnectionState
  readonly onError: (error: unknown) => void
  /**
   * Called on every new pair of connections before it is handed out (the first included): declares the
   * topology and re-opens the subscriptions. A throw closes them and the link tries again.
   */
  readonly onConnected: (live: LiveConnection) => Promise<void>
}

/**
 * The link's two connections, as it hands them out: publishing and consuming go over separate
 * connections, as RabbitMQ advises, because the broker's flow control throttles a connection that
 * publishes faster than its queues take, and would hold back the acks of consumers on the same one.
 */
export interface LiveConnection {
  /** Publishes, declarations, dead-letter reads. */
  readonly connection: ChannelModel
  /** The subscriptions' channels. */
  readonly consumer: ChannelModel
  /** The confirm channel on `connection`; replaced when the broker closes it while the connection lives on. */
  publisher: Publisher
}

/** The URL with a `heartbeat` query parameter, unless it sets one itself. */
function withHeartbeat(url: string, seconds: number): string {
  if (/[?&]heartbeat=/.test(url)) return url
  return `${url}${url.includes('?') ? '&' : '?'}heartbeat=${seconds}`
}

/**
 * The transport's connections to RabbitMQ, kept up for as long as the transport is open. amqplib does
 * not reconnect, so the link does: when either connection closes without `close()` (a broker restart, a
 * connection closed by an operator, a dead socket found by heartbeats) it closes the other, reports
 * `down` and connects both again with the kit's backoff, without an attempt limit, then runs
 * `onConnected` (topology and subscriptions) before reporting `up`. `current()` waits for that, so a
 * publish made during an outage goes out on the next connection (or runs into its deadline).
 */
export class AmqpLink {
  private live: LiveConnection | undefined
  private waiting: Array<{ resolve: (live: LiveConnection) => void; reject: (err: unknown) => void }> = []
  private readonly closing = new AbortController()

  private constructor(private readonly options: AmqpLinkOptions) {}

  /** Connects once: startup fails fast with the broker's error (wrong URL, credentials, broker down). */
  static async open(options: AmqpLinkOptions): Promise<AmqpLink> {
    const link = new AmqpLink(options)
    options.state.set('connecting')
    link.adopt(await link.connectOnce())
    return link
  }

  /** The connection if it is up now. */
  get now(): LiveConnection | undefined {
    return this.live
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.closing.signal.aborted
  }

  /** The live connection, waiting for the link to reconnect if it is down; rejects once closed. */
  current(): Promise<LiveConnection> {
    if (this.live) return Promise.resolve(this.live)
    if (this.closed) return Promise.reject(closedError())
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }))
  }

  /** Stops reconnecting and closes the connection (unacked deliveries go back to their queues). */
  async close(): Promise<void> {
    this.closing.abort()
    for (const w of this.waiting.splice(0)) w.reject(closedError())
    const live = this.live
    this.live = undefined
    if (live) {
      await live.publisher.close()
      await live.consumer.close().catch(() => {})
      await live.connection.close().catch(() => {})
    }
    this.options.state.closed()
  }

  private async connectOnce(): Promise<LiveConnection> {
    const connection = await this.connectOne(this.options.connectionName)
    let consumer: ChannelModel | undefined
    try {
      consumer = await this.connectOne(`${this.options.connectionName} (consumers)`)
      if (this.closed) throw new TransportError('the AMQP transport closed while connecting', { retryable: false })
      const live: LiveConnection = { connection, consumer, publisher: await this.openPublisher(connection, () => live) }
      await this.options.onConnected(live)
      return live
    } catch (err) {
      await consumer?.close().catch(() => {})
      await connection.close().catch(() => {})
      throw err
    }
  }

  /** One connection, named in its client properties (what `rabbitmqctl list_connections` shows). */
  private async connectOne(name: string): Promise<ChannelModel> {
    const o = this.options
    const connection = await connect(withHeartbeat(o.url, o.heartbeatSeconds), {
      ...o.socketOptions,
      clientProperties: { connection_name: name },
    })
    // Without a listener an 'error' event would throw; the 'close' that follows drives the reconnect.
    connection.on('error', () => {})
    return connection
  }

  /**
   * A confirm channel on `connection`. Should the broker close it alone (a channel error such as a publish
   * to an exchange deleted by hand), a new one replaces it while the connection lives.
   */
  private async openPublisher(connection: ChannelModel, live: () => LiveConnection): Promise<Publisher> {
    const channel: ConfirmChannel = await connection.createConfirmChannel()
    return new Publisher(channel, () => {
      if (this.closed || this.live !== live()) return
      void reconnectWithBackoff(
        async () => {
          const current = live()
          if (this.live !== current || this.closed) return
          current.publisher = await this.openPublisher(connection, live)
        },
        {
          backoff: this.options.backoff,
          signal: this.closing.signal,
          onAttemptFailed: (err) => this.options.onError(err),
        },
      )
    })
  }

  private adopt(live: LiveConnection): void {
    this.live = live
    live.connection.once('close', (err?: unknown) => this.lost(live, err))
    live.consumer.once('close', (err?: unknown) => this.lost(live, err))
    this.options.state.up()
    for (const w of this.waiting.splice(0)) w.resolve(live)
  }

  private lost(live: LiveConnection, err: unknown): void {
    if (this.live !== live) return
    this.live = undefined
    // Both go: the survivor's channels belong to the old topology state (and its unacked messages return).
    void live.consumer.close().catch(() => {})
    void live.connection.close().catch(() => {})
    if (this.closed) return
    this.options.state.down(err ?? new TransportError('the AMQP connection closed'))
    void this.reconnect()
  }

  private async reconnect(): Promise<void> {
    const live = await reconnectWithBackoff(
      () => {
        this.options.state.set('connecting')
        return this.connectOnce()
      },
      {
        backoff: this.options.backoff,
        signal: this.closing.signal,
        onAttemptFailed: (err) => this.options.state.down(err),
      },
    )
    if (!live) return
    if (this.closed) {
      await live.consumer.close().catch(() => {})
      await live.connection.close().catch(() => {})
      return
    }
    this.adopt(live)
  }
}

function closedError(): TransportError {
  return new TransportError('the AMQP transport is closed: create a new one with amqpTransport()', { retryable: false })
}
