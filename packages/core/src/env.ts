import { z } from 'zod'
import { createBus, type Bus, type BusOptions } from './bus.js'
import { envVar, parseEnv } from './adapter/env-vars.js'
import { ConfigError, TierbusError } from './errors.js'
import { memoryTransport } from './memory.js'
import type { Transport } from './transport.js'

/** Environment variables, as `process.env` holds them. */
export type Env = Readonly<Record<string, string | undefined>>

/** Each `TIERBUS_TRANSPORT` value, the package that implements it, and the client it needs. */
export const TRANSPORT_KINDS = Object.freeze({
  memory: { package: '@tierbus/core', client: '' },
  postgres: { package: '@tierbus/db-realtime', client: 'pg' },
  pglite: { package: '@tierbus/db-realtime', client: '@electric-sql/pglite' },
  supabase: { package: '@tierbus/db-realtime', client: '@supabase/supabase-js' },
  redis: { package: '@tierbus/redis-streams', client: 'ioredis' },
  upstash: { package: '@tierbus/redis-streams', client: '@upstash/redis' },
  sqs: { package: '@tierbus/sqs-sns', client: '@aws-sdk/client-sqs @aws-sdk/client-sns' },
  nats: { package: '@tierbus/nats', client: 'nats' },
} as const)

/** A `TIERBUS_TRANSPORT` value. */
export type TransportKind = keyof typeof TRANSPORT_KINDS

/** What an adapter package exports so `createBusFromEnv` can build its transport. */
export interface AdapterModule {
  /** Builds the transport for `kind` from its env vars; throws a ConfigError naming any missing or invalid one. */
  transportFromEnv(kind: TransportKind, env: Env): Promise<Transport>
}

const kinds = Object.keys(TRANSPORT_KINDS) as [TransportKind, ...TransportKind[]]

const CoreEnv = z.object({
  TIERBUS_TRANSPORT: z.enum(kinds).optional(),
  TIERBUS_SOURCE: z.string().min(1).optional(),
  TIERBUS_GROUP: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/).optional(),
  TIERBUS_CONCURRENCY: envVar.positiveInt().optional(),
  TIERBUS_RETRY_ATTEMPTS: z.coerce.number().int().min(1).max(1000).optional(),
  TIERBUS_MEMORY_RETENTION: envVar.nonNegativeInt().optional(),
  TIERBUS_MIGRATION: z.string().optional(),
  NODE_ENV: z.string().optional(),
})

/** Options of `createBusFromEnv`: bus options, with `source` optional (env `TIERBUS_SOURCE`). */
export interface BusFromEnvOptions extends Omit<BusOptions, 'transport' | 'source'> {
  source?: string
  /** Where to read variables; default `process.env`. */
  env?: Env
  /**
   * Loads an adapter package by name; default: dynamic `import()`. Bundlers that cannot follow a
   * dynamic import (some serverless builds) pass `(name) => import('@tierbus/redis-streams')` here.
   */
  load?: (specifier: string) => Promise<unknown>
}

function parseCoreEnv(env: Env) {
  return parseEnv(CoreEnv, env, 'invalid tierbus environment', `TIERBUS_TRANSPORT must be one of ${kinds.join(', ')}`)
}

/**
 * Builds the transport named by `TIERBUS_TRANSPORT` (default `memory` outside production; in
 * production it must be set, since memory loses events on restart). Fails at startup with a
 * ConfigError naming what to set or install.
 */
export async function transportFromEnv(env: Env = process.env, load: (specifier: string) => Promise<unknown> = (s) => import(s)): Promise<Transport> {
  if (env.TIERBUS_MIGRATION) return migrationFromEnv(env, load)
  const vars = parseCoreEnv(env)
  const kind = vars.TIERBUS_TRANSPORT ?? (vars.NODE_ENV === 'production' ? undefined : 'memory')
  if (!kind) {
    throw new ConfigError(`TIERBUS_TRANSPORT is not set and NODE_ENV is production: set it to one of ${kinds.join(', ')} (memory keeps nothing across restarts)`)
  }
  if (kind === 'memory') return memoryTransport(vars.TIERBUS_MEMORY_RETENTION !== undefined ? { retention: vars.TIERBUS_MEMORY_RETENTION } : {})
  const { package: pkg, client } = TRANSPORT_KINDS[kind]
  const install = `npm install ${pkg} ${client}`
  let mod: Partial<AdapterModule>
  try {
    mod = (await load(pkg)) as Partial<AdapterModule>
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new ConfigError(`TIERBUS_TRANSPORT=${kind} needs the ${pkg} package and its client (${client}), which could not be loaded: ${install}`, { cause: err })
    }
    throw new ConfigError(`TIERBUS_TRANSPORT=${kind}: loading ${pkg} failed (${(err as Error).message}); check that ${install} succeeded`, { cause: err })
  }
  if (typeof mod.transportFromEnv !== 'function') {
    throw new ConfigError(`${pkg} does not export transportFromEnv(); install a version that matches @tierbus/core: ${install}@latest`)
  }
  try {
    return await mod.transportFromEnv(kind, env)
  } catch (err) {
    if (err instanceof TierbusError) throw err
    throw new ConfigError(`TIERBUS_TRANSPORT=${kind}: ${(err as Error).message}`, { cause: err })
  }
}

/** `TIERBUS_MIGRATION=<from>-><to>`: the migrator composes both tiers (loaded like an adapter). */
async function migrationFromEnv(env: Env, load: (specifier: string) => Promise<unknown>): Promise<Transport> {
  let mod: { migrationTransportFromEnv?: (env: Env, load: (s: string) => Promise<unknown>) => Promise<Transport> }
  try {
    mod = (await load('@tierbus/migrator')) as typeof mod
  } catch (err) {
    throw new ConfigError(`TIERBUS_MIGRATION=${env.TIERBUS_MIGRATION} needs the migrator: npm install @tierbus/migrator`, { cause: err })
  }
  if (typeof mod.migrationTransportFromEnv !== 'function') {
    throw new ConfigError('@tierbus/migrator does not export migrationTransportFromEnv(); install a version that matches @tierbus/core')
  }
  return mod.migrationTransportFromEnv(env, load)
}

/**
 * Creates a bus from environment variables: `TIERBUS_TRANSPORT` picks the tier, each tier reads its
 * own variables (see docs/tiers.md), and `TIERBUS_SOURCE`, `TIERBUS_GROUP`, `TIERBUS_CONCURRENCY`,
 * `TIERBUS_RETRY_ATTEMPTS` set bus defaults. Everything is validated before the bus exists.
 */
export async function createBusFromEnv(options: BusFromEnvOptions = {}): Promise<Bus> {
  const { env = process.env, load, ...busOptions } = options
  const vars = parseCoreEnv(env)
  const source = busOptions.source ?? vars.TIERBUS_SOURCE ?? env.npm_package_name
  if (!source) throw new ConfigError('createBusFromEnv: pass { source } or set TIERBUS_SOURCE to name this producer, e.g. signalsloop/api')
  const transport = await transportFromEnv(env, load)
  const retry = vars.TIERBUS_RETRY_ATTEMPTS !== undefined ? { ...busOptions.retry, attempts: vars.TIERBUS_RETRY_ATTEMPTS } : busOptions.retry
  return createBus({
    ...busOptions,
    transport,
    source,
    ...(vars.TIERBUS_GROUP !== undefined && busOptions.group === undefined ? { group: vars.TIERBUS_GROUP } : {}),
    ...(vars.TIERBUS_CONCURRENCY !== undefined && busOptions.concurrency === undefined ? { concurrency: vars.TIERBUS_CONCURRENCY } : {}),
    ...(retry ? { retry } : {}),
  })
}
