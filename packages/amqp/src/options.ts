import { ConfigError, type TransportErrorListener } from '@tierbus/core'
import {
  type ConnectionStateOptions,
  type PublishDeadlineOptions,
  positiveInt,
  type ReconnectBackoff,
  resolvePublishTimeout,
  warnErrorListener,
} from '@tierbus/core/adapter'
import { assertPrefix } from './names.js'

/** Options of `amqpTransport`. */
export interface AmqpTransportOptions extends ConnectionStateOptions, PublishDeadlineOptions {
  /**
   * Broker URL, e.g. `amqp://guest:guest@127.0.0.1:5672` or
   * `amqps://user:pass@b-1234.mq.us-east-1.amazonaws.com:5671` (Amazon MQ).
   */
  url: string
  /** Starts every exchange and queue name: `<prefix>.events`, `<prefix>.q.<group>...`, `<prefix>.dlq.<group>`. */
  prefix?: string
  /** Connection name shown by `rabbitmqctl list_connections name client_properties` and the management UI. */
  connectionName?: string
  /** Largest encoded envelope, bytes (RabbitMQ 4.x refuses messages over 16 MiB by default; 3.13 over 128 MiB). */
  maxPayloadBytes?: number
  /** Partitions (single-active-consumer queues) of an `ordered` group: at most this many members work at once. */
  orderedPartitions?: number
  /**
   * `x-delivery-limit` of group queues: a message the broker handed out this many times without a settle
   * (consumers crashing on it) is dead-lettered by the broker into the group's DLQ instead of looping.
   */
  deliveryLimit?: number
  /** Heartbeat interval agreed with the broker, seconds (a dead TCP link is noticed after about twice this). */
  heartbeatSeconds?: number
  /** Waits between reconnect attempts (exponential with jitter, capped; default 250 ms doubling to 10 s). */
  reconnectBackoff?: ReconnectBackoff
  /** Delete the exchanges and queues this transport declared when it closes (tests; never in production). */
  deleteOnClose?: boolean
  /** Errors nobody awaits (a lost consumer channel, a failed lease hand-back); default: `console.warn`. */
  onError?: TransportErrorListener
  /** Other amqplib socket options (TLS certificates ...), passed through. */
  socketOptions?: Record<string, unknown>
}

/** Defaults of `AmqpTransportOptions`. */
export const AMQP_DEFAULTS = Object.freeze({
  prefix: 'tierbus',
  connectionName: 'tierbus',
  maxPayloadBytes: 16 * 1024 * 1024 - 64 * 1024,
  orderedPartitions: 4,
  deliveryLimit: 1_000,
  heartbeatSeconds: 10,
  deleteOnClose: false,
  onError: warnErrorListener('amqp'),
})

/** Options with every default filled and checked. */
export interface ResolvedAmqpOptions {
  readonly url: string
  readonly prefix: string
  readonly connectionName: string
  readonly maxPayloadBytes: number
  readonly orderedPartitions: number
  readonly deliveryLimit: number
  readonly heartbeatSeconds: number
  readonly reconnectBackoff: ReconnectBackoff
  readonly deleteOnClose: boolean
  readonly publishTimeoutMs: number
  readonly onError: TransportErrorListener
  readonly onConnectionState?: AmqpTransportOptions['onConnectionState']
  readonly socketOptions: Record<string, unknown>
}

/** Fills defaults and rejects bad options with a ConfigError that says what to change. */
export function resolveOptions(options: AmqpTransportOptions): ResolvedAmqpOptions {
  if (!options || typeof options.url !== 'string' || !/^amqps?:\/\/\S+$/.test(options.url)) {
    throw new ConfigError(
      "amqpTransport({ url }): pass the broker URL, e.g. 'amqp://guest:guest@127.0.0.1:5672' (env AMQP_URL)",
    )
  }
  const d = AMQP_DEFAULTS
  const prefix = options.prefix ?? d.prefix
  assertPrefix(prefix)
  const connectionName = options.connectionName ?? d.connectionName
  if (typeof connectionName !== 'string' || connectionName.length === 0 || connectionName.length > 200) {
    throw new ConfigError('amqpTransport option connectionName must be a non-empty string of at most 200 characters')
  }
  return {
    url: options.url,
    prefix,
    connectionName,
    maxPayloadBytes: positiveInt(options.maxPayloadBytes ?? d.maxPayloadBytes, 'amqpTransport option maxPayloadBytes'),
    orderedPartitions: positiveInt(
      options.orderedPartitions ?? d.orderedPartitions,
      'amqpTransport option orderedPartitions',
    ),
    deliveryLimit: positiveInt(options.deliveryLimit ?? d.deliveryLimit, 'amqpTransport option deliveryLimit'),
    heartbeatSeconds: positiveInt(
      options.heartbeatSeconds ?? d.heartbeatSeconds,
      'amqpTransport option heartbeatSeconds',
    ),
    reconnectBackoff: options.reconnectBackoff ?? {},
    deleteOnClose: options.deleteOnClose ?? d.deleteOnClose,
    publishTimeoutMs: resolvePublishTimeout(options.publishTimeoutMs, 'amqpTransport'),
    onError: options.onError ?? d.onError,
    ...(options.onConnectionState ? { onConnectionState: options.onConnectionState } : {}),
    socketOptions: options.socketOptions ?? {},
  }
}
