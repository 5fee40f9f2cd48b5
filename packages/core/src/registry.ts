import type { ZodType } from 'zod'
import type { Transport } from './transport.js'

/** Environment variables, as `process.env` holds them. */
export type Env = Readonly<Record<string, string | undefined>>

/** What `createBusFromEnv` hands an adapter besides the environment. */
export interface AdapterContext {
  /**
   * Builds the transport another environment names, with the same adapters: how composing adapters
   * (the migrator's, a router's) build the tiers they wrap.
   */
  transportFromEnv(env: Env): Promise<Transport>
}

/**
 * A tier's descriptor: how `createBusFromEnv` builds its transport from environment variables. Every tier
 * package exports one per `TIERBUS_TRANSPORT` value it serves (e.g. `redisAdapter` from
 * `@tierbus/redis-streams`) and an array of all of them as `tierbusAdapters`. Passing descriptors to
 * `createBusFromEnv({ adapters })` is a static import, so bundlers (Next.js, serverless builds) include the
 * tier; a third-party tier plugs in the same way.
 */
export interface TierAdapter {
  /** The `TIERBUS_TRANSPORT` value it serves, e.g. `redis`: 1-40 lowercase letters, digits or `-`. */
  readonly kind: string
  /** What to install for it, e.g. `@tierbus/redis-streams ioredis` (used in error messages). */
  readonly install: string
  /**
   * Set for a composing adapter selected by its own variable instead of `TIERBUS_TRANSPORT`: the migrator's
   * adapter is chosen whenever `TIERBUS_MIGRATION` is set.
   */
  readonly selectedBy?: string
  /** The variables it reads, as a zod schema (for docs and tooling; `create` validates them). */
  readonly env?: ZodType
  /** Builds the transport; throws a ConfigError naming any variable that is missing or invalid. */
  create(env: Env, context: AdapterContext): Promise<Transport>
}

/**
 * Where the tiers tierbus ships live, by `TIERBUS_TRANSPORT` value (or selecting variable). Only a hint: for
 * error messages, and for loading an adapter by package name when none was passed (plain Node, not bundlers).
 * Any adapter passed in `adapters` is accepted, listed here or not.
 */
export const KNOWN_ADAPTERS: Readonly<
  Record<string, { readonly package: string; readonly client: string; readonly export: string }>
> = Object.freeze({
  postgres: { package: '@tierbus/db-realtime', client: 'pg', export: 'postgresAdapter' },
  pglite: { package: '@tierbus/db-realtime', client: '@electric-sql/pglite', export: 'pgliteAdapter' },
  supabase: { package: '@tierbus/db-realtime', client: '@supabase/supabase-js', export: 'supabaseAdapter' },
  redis: { package: '@tierbus/redis-streams', client: 'ioredis', export: 'redisAdapter' },
  upstash: { package: '@tierbus/redis-streams', client: '@upstash/redis', export: 'upstashAdapter' },
  sqs: { package: '@tierbus/sqs-sns', client: '@aws-sdk/client-sqs @aws-sdk/client-sns', export: 'sqsAdapter' },
  nats: { package: '@tierbus/nats', client: 'nats', export: 'natsAdapter' },
  amqp: { package: '@tierbus/amqp', client: 'amqplib', export: 'amqpAdapter' },
  TIERBUS_MIGRATION: { package: '@tierbus/migrator', client: '', export: 'migrationAdapter' },
})

const KIND = /^[a-z][a-z0-9-]{0,39}$/

/** Checks a descriptor's shape (a third-party tier's mistakes surface at startup, not at first publish). */
export function isTierAdapter(value: unknown): value is TierAdapter {
  const a = value as Partial<TierAdapter> | null
  return (
    typeof a === 'object' &&
    a !== null &&
    typeof a.kind === 'string' &&
    KIND.test(a.kind) &&
    typeof a.install === 'string' &&
    typeof a.create === 'function' &&
    (a.selectedBy === undefined || typeof a.selectedBy === 'string')
  )
}
