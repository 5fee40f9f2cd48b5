import { ConfigError, TransportError } from '@tierbus/core'
import type { ConnectionState } from '@tierbus/core/adapter'
import type { BlockingReader, RedisCommand, RedisStreamClient } from './client.js'
import { REDIS_STREAMS_DEFAULTS, type RedisStreamsOptions } from './options.js'
import { RedisStreamsTransport } from './transport.js'

/** The ioredis pipeline calls tierbus makes (ioredis's `ChainableCommander` fits). */
export interface IORedisPipelineLike {
  call(command: string, ...args: Array<string | number>): unknown
  exec(): Promise<Array<[error: Error | null, result: unknown]> | null>
}

/** Options tierbus passes to `duplicate()` (a subset of ioredis's `RedisOptions`). */
export interface IORedisDuplicateOptions {
  connectionName?: string
  maxRetriesPerRequest?: number | null
  lazyConnect?: boolean
}

/**
 * What tierbus uses of an ioredis client (a real ioredis `Redis` fits): commands, pipelines, duplicated
 * connections for blocking reads and pub/sub, connection events. Declared here so the package's types never
 * need `ioredis`'s.
 */
export interface IORedisLike {
  readonly status: string
  call(command: string, ...args: Array<string | number>): Promise<unknown>
  pipeline(): IORedisPipelineLike
  duplicate(options?: IORedisDuplicateOptions): IORedisLike
  // biome-ignore lint/suspicious/noExplicitAny: any[] lets ioredis' overloaded on() (typed listeners) match this shape
  on(event: string, listener: (...args: any[]) => void): unknown
  subscribe(...channels: string[]): Promise<unknown>
  quit(): Promise<unknown>
  disconnect(): void
}

/** Options of `redisTransport`: a `redis://` URL (the transport opens and closes its connections) or your ioredis client. */
export interface RedisTransportOptions extends RedisStreamsOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://` for TLS. */
  url?: string
  /**
   * An ioredis `Redis` client to use instead of `url`; the transport never closes it (it does close the
   * connections it duplicates from it).
   */
  client?: IORedisLike
  /** Extra ioredis `RedisOptions` when connecting from `url` (e.g. `tls`, `db`), for `new Redis(url, options)`. */
  clientOptions?: Readonly<Record<string, unknown>>
  /** Name shown by `CLIENT LIST` for this transport's connections (readers get `:reader` appended). */
  connectionName?: string
}

/** Attempts a connection still waiting for a reply may make before it fails; reads block for seconds, so be patient. */
const READER_RETRIES = 50

/** A dedicated ioredis connection for blocking XREADGROUP; `interrupt` is `CLIENT UNBLOCK` sent on the main connection. */
class IORedisBlockingReader implements BlockingReader {
  private clientId: number | undefined
  private reading = 0
  private readSeq = 0

  constructor(
    private readonly conn: IORedisLike,
    private readonly control: IORedisLike,
    private readonly onClose: () => void,
  ) {
    // A reconnect gets a new client id: forget the old one when the connection drops.
    conn.on('close', () => (this.clientId = undefined))
    // Connection errors surface as failed reads (reported by the subscription); this stops ioredis printing them.
    conn.on('error', () => {})
  }

  async send(command: RedisCommand): Promise<unknown> {
    if (this.clientId === undefined) this.clientId = Number(await this.conn.call('CLIENT', 'ID'))
    const [name, ...args] = command
    this.reading = ++this.readSeq
    try {
      return await this.conn.call(name.toLowerCase(), ...args)
    } finally {
      this.reading = 0
    }
  }

  interrupt(): void {
    const seq = this.reading
    const id = this.clientId
    if (seq === 0 || id === undefined) return
    void (async () => {
      // The read may still be on its way to the server: retry briefly until it is unblocked or over.
      for (let i = 0; i < 20 && this.reading === seq; i++) {
        const unblocked = await this.control.call('CLIENT', 'UNBLOCK', id).catch(() => 0)
        if (unblocked === 1) return
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    })()
  }

  async close(): Promise<void> {
    this.onClose()
    this.conn.disconnect()
  }
}

/**
 * `RedisStreamClient` over ioredis (TCP): pipelines, blocking reads on duplicated connections, pub/sub.
 * Command names are sent lowercase: ioredis 6 speaks RESP3 and maps replies back to their RESP2 shape
 * (its "legacy" reply mapping) only for command names it recognizes, which it keys in lowercase.
 */
export class IORedisStreamClient implements RedisStreamClient {
  readonly protocol = 'tcp' as const
  private readonly connections = new Set<IORedisLike>()

  constructor(
    /** The main connection (commands, pipelines, CLIENT UNBLOCK). */
    readonly redis: IORedisLike,
    private readonly owned: boolean,
    private readonly connectionName = 'tierbus',
  ) {}

  send(command: RedisCommand): Promise<unknown> {
    const [name, ...args] = command
    return this.redis.call(name.toLowerCase(), ...args)
  }

  async pipeline(commands: readonly RedisCommand[]): Promise<unknown[]> {
    const pipeline = this.redis.pipeline()
    for (const [name, ...args] of commands) pipeline.call(name.toLowerCase(), ...args)
    const results = await pipeline.exec()
    if (!results) throw new TransportError('ioredis pipeline was discarded (connection closed): retry')
    return results.map(([err, value]) => err ?? value)
  }

  async openReader(): Promise<BlockingReader> {
    const conn = this.redis.duplicate({
      connectionName: `${this.connectionName}:reader`,
      maxRetriesPerRequest: READER_RETRIES,
      lazyConnect: false,
    })
    this.connections.add(conn)
    return new IORedisBlockingReader(conn, this.redis, () => this.connections.delete(conn))
  }

  async listen(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    const conn = this.redis.duplicate({ connectionName: `${this.connectionName}:notices` })
    conn.on('error', () => {})
    this.connections.add(conn)
    conn.on('message', (ch: string, message: string) => {
      if (ch === channel) onMessage(message)
    })
    await conn.subscribe(channel)
    return async () => {
      this.connections.delete(conn)
      conn.disconnect()
    }
  }

  watchConnection(state: ConnectionState): void {
    const redis = this.redis
    if (redis.status === 'ready') state.up()
    redis.on('ready', () => state.up())
    // ioredis emits 'close' after every failed attempt too: report the loss once, then `connecting` until ready.
    redis.on('close', () => {
      if (state.current === 'up') state.down(new TransportError('the Redis connection closed; ioredis reconnects'))
    })
    redis.on('reconnecting', () => state.set('connecting'))
  }

  async close(): Promise<void> {
    for (const conn of this.connections) conn.disconnect()
    this.connections.clear()
    if (this.owned) await this.redis.quit().catch(() => this.redis.disconnect())
  }
}

async function loadIORedis(): Promise<{ Redis: typeof import('ioredis').Redis }> {
  try {
    return await import('ioredis')
  } catch (err) {
    throw new ConfigError('the redis tier needs the ioredis package: npm install ioredis', { cause: err })
  }
}

/**
 * Creates the Redis Streams transport over ioredis (TCP). With `url` it connects (failing fast with a
 * TransportError when Redis is unreachable) and closes its connections on `close()`.
 */
export async function redisTransport(options: RedisTransportOptions): Promise<RedisStreamsTransport> {
  const { url, client, clientOptions, connectionName = 'tierbus', ...streamOptions } = options
  let redis: IORedisLike
  if (client) redis = client
  else if (!url)
    throw new ConfigError(
      'redisTransport needs { url } (e.g. redis://127.0.0.1:6379, or set REDIS_URL) or { client } (an ioredis instance)',
    )
  else {
    const { Redis } = await loadIORedis()
    const own = new Redis(url, { connectionName, lazyConnect: true, ...clientOptions })
    redis = own
    const onError = streamOptions.onError ?? REDIS_STREAMS_DEFAULTS.onError
    redis.on('error', (err: unknown) => onError(err, { operation: 'connection' }))
    try {
      await own.connect()
      await own.ping()
    } catch (err) {
      own.disconnect()
      // TransportError redacts the URL's password (and the client's error) itself.
      throw new TransportError(
        `cannot connect to Redis at ${url} (${(err as Error).message}): check REDIS_URL and that Redis 7+ is running`,
        { cause: err },
      )
    }
  }
  return new RedisStreamsTransport('redis', new IORedisStreamClient(redis, !client, connectionName), streamOptions)
}
