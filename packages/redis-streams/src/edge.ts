/**
 * @tierbus/redis-streams/edge — the part of the Redis tier that runs in edge runtimes (Next.js middleware,
 * `export const runtime = 'edge'` routes): the upstash transport, which talks HTTP through @upstash/redis.
 * Nothing here imports ioredis or a Node built-in, so an edge bundle stays free of them.
 */

export type { UpstashTransportOptions } from './upstash.js'
export { upstashTransport } from './upstash.js'
export { upstashAdapter, upstashFromEnv } from './upstash-adapter.js'
