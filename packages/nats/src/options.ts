import { assertPattern, ConfigError, type TransportErrorListener } from '@tierbus/core'
import {
  type ConnectionStateOptions,
  type PublishDeadlineOptions,
  type ReconnectBackoff,
  resolvePublishTimeout,
  warnErrorListener,
} from '@tierbus/core/adapter'
import type { ConnectionOptions, NatsConnection } from 'nats'
import { assertPrefix, assertStreamName } from './subjects.js'

/** How a stream keeps messages: `limits` (by age/size, every group reads it), `interest` (until every consumer acked). */
export type StreamRetention = 'limits' | 'interest'

/** One JetStream stream holding a family of event types (as in the MisterSmith capacity plan: coordination, discovery, tasks). */
export interface StreamFamily {
  /** Stream name (letters, digits, `_`, `-`), unique on the server. */
  name: string
  /** Event-type patterns the stream holds, e.g. `['coord.>']`; `['>']` for every type. Stored under the prefix. */
  types: readonly string[]
  /** How long events are kept, ms (0 = forever). */
  maxAgeMs?: number
  /** `limits` (default) keeps events for `maxAgeMs` so new groups can replay; `interest` drops them once every group acked. */
  retention?: StreamRetention
  /** `file` (default, survives a server restart) or `memory` (transient, faster). */
  storage?: 'file' | 'memory'
  /** Cap on the stream's size in bytes (-1 = unlimited). */
  maxBytes?: number
  /** Replicas in a clustered JetStream (1 on a single server). */
  replicas?: number
}

/** Options of `natsTransport`. */
export interface NatsTransportOptions extends ConnectionStateOptions, PublishDeadlineOptions {
  /** Server URL, e.g. `nats://127.0.0.1:4222` (env NATS_URL); or use `servers` for a cluster. */
  url?: string
  /** Server URLs of a cluster (or one, like `url`). */
  servers?: string | string[]
  /**
   * An app-owned connection to use instead of opening one: the transport never closes or rebuilds it
   * (its own reconnects still apply). Connection options (`url`, `servers`, `connection`, `name`, ...) are ignored.
   */
  client?: NatsConnection
  /** Subject prefix: event type `t` is published on `<prefix>.<t>`; dead letters on `<prefix>_dlq.<group>`. */
  prefix?: string
  /** Name of the single default stream (ignored when `streams` is given). */
  stream?: string
  /** Streams by event-type family; default: one stream `stream` holding every type for `maxAgeMs`. */
  streams?: readonly StreamFamily[]
  /** Retention of the default stream, ms. */
  maxAgeMs?: number
  /** Name of the dead-letter stream (default: the first stream's name + `_DLQ`). */
  deadLetterStream?: string
  /** Retention of the dead-letter stream, ms. */
  deadLetterMaxAgeMs?: number
  /** Upper bound of unacked messages per group (JetStream `max_ack_pending`; retries waiting their delay count too). */
  maxAckPending?: number
  /** Server-side duplicate detection of re-published event ids (`Nats-Msg-Id`) within `duplicateWindowMs`. */
  dedupe?: boolean
  /** Duplicate-detection window of the streams, ms. */
  duplicateWindowMs?: number
  /** How long one pull request waits on the server for messages before the next is issued, ms (>= 1000). */
  fetchExpiresMs?: number
  /** Delete streams this transport created when it closes (tests; never in production). */
  deleteStreamsOnClose?: boolean
  /** Client keep-alive ping interval, ms (default 30 s). */
  pingIntervalMs?: number
  /**
   * Reconnect attempts of the client before it gives up (-1, the default, = forever). When it does give
   * up the transport builds a new connection anyway and resumes its subscriptions: a bus never stays down.
   */
  maxReconnectAttempts?: number
  /** Waits between reconnect attempts (exponential with jitter, capped; default 250 ms doubling to 10 s). */
  reconnectBackoff?: ReconnectBackoff
  /** Errors nobody awaits (a failed pull, a server error notice); default: `console.warn`. */
  onError?: TransportErrorListener
  /** Connect timeout, ms (default 10 s). */
  connectTimeoutMs?: number
  /** Connection name shown in server monitoring. */
  name?: string
  /** How often each group's consumer is compared with its stream's limits, to count what they removed unread, ms. */
  retentionCheckMs?: number
  /** Other `nats` connection options (auth, TLS ...), passed through; the fields above win. */
  connection?: Omit<ConnectionOptions, 'servers'>
}

const DAY_MS = 86_400_000

/**
 * Defaults of `NatsTransportOptions` (ping 30 s, 10 s connect timeout, tasks kept 7 days, as the MisterSmith capacity plan sizes them).
 * Reconnects never stop (the capacity plan said 10 attempts, which left a bus dead after a ~20 s outage).
 */
export const NATS_DEFAULTS = Object.freeze({
  prefix: 'tierbus',
  stream: 'TIERBUS',
  maxAgeMs: 7 * DAY_MS,
  deadLetterMaxAgeMs: 14 * DAY_MS,
  maxAckPending: 10_000,
  dedupe: true,
  duplicateWindowMs: 120_000,
  fetchExpiresMs: 5_000,
  deleteStreamsOnClose: false,
  pingIntervalMs: 30_000,
  maxReconnectAttempts: -1,
  connectTimeoutMs: 10_000,
  name: 'tierbus',
  retentionCheckMs: 30_000,
  onError: warnErrorListener('nats'),
})

/**
 * The MisterSmith capacity plan's durability per subject family, as streams: coordination transient (memory, 1 h),
 * discovery/agent lifecycle 24 h, tasks 7 days. Pass as `streams: misterSmithStreams('MS')`.
 */
export function misterSmithStreams(namePrefix = 'MISTERSMITH'): StreamFamily[] {
  return [
    { name: `${namePrefix}_COORD`, types: ['coord.>'], maxAgeMs: 3_600_000, storage: 'memory', retention: 'interest' },
    { name: `${namePrefix}_AGENT`, types: ['agent.>', 'discovery.>'], maxAgeMs: DAY_MS },
    { name: `${namePrefix}_WORK`, types: ['work.>', 'task.>'], maxAgeMs: 7 * DAY_MS },
  ]
}

/** Options with every default filled and checked. */
export type ResolvedNatsOptions = Required<
  Omit<
    NatsTransportOptions,
    'stream' | 'streams' | 'maxAgeMs' | 'connection' | 'onConnectionState' | 'reconnectBackoff' | 'url' | 'client'
  >
> & {
  client?: NatsConnection
  streams: readonly Required<StreamFamily>[]
  connection: Omit<ConnectionOptions, 'servers'>
  reconnectBackoff: ReconnectBackoff
  onConnectionState?: NatsTransportOptions['onConnectionState']
}

function positive(value: number, name: string, min = 1): number {
  if (!Number.isFinite(value) || value < min)
    throw new ConfigError(`natsTransport option ${name} must be a number >= ${min}, got ${String(value)}`)
  return value
}

/** The server URL(s) from `url` or `servers` (either serves); none is needed with a `client`. */
function resolveServers(options: NatsTransportOptions): string | string[] {
  const { url, servers } = options ?? {}
  if (url !== undefined && servers !== undefined) {
    throw new ConfigError('natsTransport: pass url (one server) or servers (a cluster), not both')
  }
  const given = url ?? servers
  if (options?.client) return given ?? options.client.getServer()
  if ((typeof given !== 'string' && !Array.isArray(given)) || given.length === 0) {
    throw new ConfigError(
      "natsTransport({ url }): pass the NATS server URL, e.g. 'nats://127.0.0.1:4222' (env NATS_URL), or { client }",
    )
  }
  return given
}

/** Fills defaults and rejects bad options with a ConfigError that says what to change. */
export function resolveOptions(options: NatsTransportOptions): ResolvedNatsOptions {
  const servers = resolveServers(options)
  const d = NATS_DEFAULTS
  const prefix = options.prefix ?? d.prefix
  assertPrefix(prefix)
  const maxAgeMs = options.maxAgeMs ?? d.maxAgeMs
  positive(maxAgeMs, 'maxAgeMs', 0)
  const families = options.streams ?? [{ name: options.stream ?? d.stream, types: ['>'], maxAgeMs }]
  if (families.length === 0)
    throw new ConfigError(
      'natsTransport option streams must name at least one stream (or leave it out for one stream of every type)',
    )
  const streams = families.map((f): Required<StreamFamily> => {
    assertStreamName(f.name)
    if (!Array.isArray(f.types) || f.types.length === 0)
      throw new ConfigError(`stream ${f.name}: types must list event-type patterns, e.g. ['work.>']`)
    for (const t of f.types) assertPattern(t)
    if (f.retention !== undefined && f.retention !== 'limits' && f.retention !== 'interest') {
      throw new ConfigError(
        `stream ${f.name}: retention must be 'limits' or 'interest' (a 'workqueue' stream cannot serve several groups), got ${JSON.stringify(f.retention)}`,
      )
    }
    if (f.storage !== undefined && f.storage !== 'file' && f.storage !== 'memory')
      throw new ConfigError(`stream ${f.name}: storage must be 'file' or 'memory'`)
    return {
      name: f.name,
      types: [...f.types],
      maxAgeMs: positive(f.maxAgeMs ?? maxAgeMs, `streams[${f.name}].maxAgeMs`, 0),
      retention: f.retention ?? 'limits',
      storage: f.storage ?? 'file',
      maxBytes: f.maxBytes ?? -1,
      replicas: positive(f.replicas ?? 1, `streams[${f.name}].replicas`),
    }
  })
  const names = new Set(streams.map((s) => s.name))
  if (names.size !== streams.length) throw new ConfigError('natsTransport option streams: stream names must be unique')
  // streams is not empty (checked above); its first stream names the dead-letter stream by default.
  const deadLetterStream = options.deadLetterStream ?? `${streams[0]?.name ?? d.stream}_DLQ`
  assertStreamName(deadLetterStream)
  if (names.has(deadLetterStream))
    throw new ConfigError(
      `natsTransport option deadLetterStream ${deadLetterStream} must differ from the event streams' names`,
    )
  const fetchExpiresMs = positive(options.fetchExpiresMs ?? d.fetchExpiresMs, 'fetchExpiresMs', 1000)
  const maxReconnectAttempts = options.maxReconnectAttempts ?? d.maxReconnectAttempts
  if (!Number.isInteger(maxReconnectAttempts) || maxReconnectAttempts < -1)
    throw new ConfigError('natsTransport option maxReconnectAttempts must be an integer >= -1 (-1 = forever)')
  return {
    servers,
    ...(options.client ? { client: options.client } : {}),
    prefix,
    streams,
    deadLetterStream,
    deadLetterMaxAgeMs: positive(options.deadLetterMaxAgeMs ?? d.deadLetterMaxAgeMs, 'deadLetterMaxAgeMs', 0),
    maxAckPending: positive(options.maxAckPending ?? d.maxAckPending, 'maxAckPending'),
    dedupe: options.dedupe ?? d.dedupe,
    duplicateWindowMs: positive(options.duplicateWindowMs ?? d.duplicateWindowMs, 'duplicateWindowMs', 100),
    fetchExpiresMs,
    deleteStreamsOnClose: options.deleteStreamsOnClose ?? d.deleteStreamsOnClose,
    pingIntervalMs: positive(options.pingIntervalMs ?? d.pingIntervalMs, 'pingIntervalMs'),
    maxReconnectAttempts,
    connectTimeoutMs: positive(options.connectTimeoutMs ?? d.connectTimeoutMs, 'connectTimeoutMs'),
    name: options.name ?? d.name,
    retentionCheckMs: positive(options.retentionCheckMs ?? d.retentionCheckMs, 'retentionCheckMs', 10),
    connection: options.connection ?? {},
    publishTimeoutMs: resolvePublishTimeout(options.publishTimeoutMs, 'natsTransport'),
    reconnectBackoff: options.reconnectBackoff ?? {},
    onError: options.onError ?? d.onError,
    ...(options.onConnectionState ? { onConnectionState: options.onConnectionState } : {}),
  }
}
