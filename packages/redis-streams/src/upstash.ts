import { ConfigError, TransportError } from '@tierbus/core'
import { type ConnectionState, isNetworkError, renameDeprecatedOptions } from '@tierbus/core/adapter'
import type { RedisCommand, RedisStreamClient } from './client.js'
import type { RedisStreamsOptions } from './options.js'
import { RedisStreamsTransport } from './transport.js'

/** One Upstash REST request: a command (or, with `path: ['pipeline']`, a list of them). */
export interface UpstashRequest {
  path?: string[]
  body?: unknown
}

/**
 * The HTTP requester inside an `@upstash/redis` client, which tierbus sends its commands through (its
 * retries, keep-alive and response decoding). Declared here so the package's types never need `@upstash/redis`'s.
 */
export interface UpstashRequesterLike {
  request(req: UpstashRequest): Promise<{ result?: unknown; error?: string }>
}

/**
 * An `@upstash/redis` `Redis` client (any one fits: tierbus reaches its HTTP requester through it). Declared
 * here so the package's types never need `@upstash/redis`'s.
 */
export interface UpstashRedisLike {
  ping(...args: never[]): Promise<unknown>
}

/** Options of `upstashTransport`: REST URL and token, or your `@upstash/redis` client. */
export interface UpstashTransportOptions extends RedisStreamsOptions {
  /** `UPSTASH_REDIS_REST_URL`, e.g. `https://eu1-example-12345.upstash.io`. */
  url?: string
  /** `UPSTASH_REDIS_REST_TOKEN`. */
  token?: string
  /** An `@upstash/redis` client to use instead of url + token. */
  client?: UpstashRedisLike
  /** @deprecated Renamed `client` (the same name on every tier). */
  redis?: UpstashRedisLike
}

type PipelineReply = Array<{ result?: unknown; error?: string }>

/**
 * `RedisStreamClient` over the Upstash REST API, through @upstash/redis's own HTTP requester (its
 * retries, keep-alive and base64 response decoding). No blocking reads over HTTP: subscriptions poll.
 */
export class UpstashStreamClient implements RedisStreamClient {
  readonly protocol = 'http' as const
  private state: ConnectionState | undefined

  constructor(private readonly requester: UpstashRequesterLike) {}

  /** HTTP holds no connection: each request that reaches Upstash means `up`, each that cannot means `down`. */
  watchConnection(state: ConnectionState): void {
    this.state = state
    state.up()
  }

  async send(command: RedisCommand): Promise<unknown> {
    const reply = await this.request({ body: command })
    if (reply.error) throw new Error(reply.error)
    return reply.result
  }

  async pipeline(commands: readonly RedisCommand[]): Promise<unknown[]> {
    const reply = (await this.request({ path: ['pipeline'], body: commands })) as unknown as PipelineReply
    if (!Array.isArray(reply))
      throw new TransportError(`Upstash /pipeline returned ${JSON.stringify(reply).slice(0, 200)} instead of an array`)
    return reply.map((r) => (r.error ? new Error(r.error) : r.result))
  }

  async close(): Promise<void> {
    // HTTP: nothing held open.
  }

  private request(req: UpstashRequest): Promise<{ result?: unknown; error?: string }> {
    const call = this.requester.request(req)
    return this.state ? this.state.observe(call, isNetworkError) : call
  }
}

/** The HTTP requester inside an @upstash/redis client (every command of that client goes through it). */
function requesterOf(redis: UpstashRedisLike): UpstashRequesterLike {
  const requester = (redis as unknown as { client?: UpstashRequesterLike }).client
  if (!requester || typeof requester.request !== 'function') {
    throw new ConfigError(
      'this @upstash/redis version does not expose its HTTP requester; install @upstash/redis 1.34 or later',
    )
  }
  return requester
}

async function loadUpstash(): Promise<typeof import('@upstash/redis')> {
  try {
    return await import('@upstash/redis')
  } catch (err) {
    throw new ConfigError('the upstash tier needs the @upstash/redis package: npm install @upstash/redis', {
      cause: err,
    })
  }
}

/**
 * Creates the Redis Streams transport over Upstash's HTTP REST API (serverless and edge friendly).
 * Checks the URL and token with a PING, failing fast with a TransportError.
 */
export async function upstashTransport(options: UpstashTransportOptions): Promise<RedisStreamsTransport> {
  const {
    url,
    token,
    client: given,
    ...streamOptions
  } = renameDeprecatedOptions(options, { redis: 'client' }, 'upstashTransport')
  let client: UpstashRedisLike
  if (given) client = given
  else {
    if (!url || !token) {
      throw new ConfigError(
        'upstashTransport needs { url, token } (UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN) ' +
          'or { client } (an @upstash/redis client)',
      )
    }
    const { Redis } = await loadUpstash()
    client = new Redis({ url, token, enableTelemetry: false, automaticDeserialization: false, retry: { retries: 3 } })
  }
  const streamClient = new UpstashStreamClient(requesterOf(client))
  try {
    await streamClient.send(['PING'])
  } catch (err) {
    throw new TransportError(
      `cannot reach Upstash Redis at ${url ?? 'the given client'} (${(err as Error).message}): check UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN`,
      { cause: err },
    )
  }
  return new RedisStreamsTransport('upstash', streamClient, streamOptions)
}
