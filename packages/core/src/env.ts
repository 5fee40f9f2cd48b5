import { z } from 'zod'
import { envVar, parseEnv } from './adapter/env-vars.js'
import { type Bus, type BusOptions, createBus } from './bus.js'
import { ConfigError, TierbusError } from './errors.js'
import { memoryTransport } from './memory.js'
import { type AdapterContext, type Env, isTierAdapter, KNOWN_ADAPTERS, type TierAdapter } from './registry.js'
import { routedTransport } from './routed.js'
import { parseRoutes, routeMigration } from './routes-format.js'
import type { Transport } from './transport.js'

export type { Env } from './registry.js'

/** The in-process tier as a descriptor (always registered): `TIERBUS_MEMORY_RETENTION` events kept per group. */
export const memoryAdapter: TierAdapter = Object.freeze<TierAdapter>({
  kind: 'memory',
  install: '@tierbus/core',
  env: z.object({ TIERBUS_MEMORY_RETENTION: z.coerce.number().int().min(0).optional() }),
  async create(env: Env) {
    const retention = env.TIERBUS_MEMORY_RETENTION
    if (retention === undefined) return memoryTransport()
    const n = Number(retention)
    if (!Number.isInteger(n) || n < 0)
      throw new ConfigError('TIERBUS_MEMORY_RETENTION must be a whole number of events (0 or more)')
    return memoryTransport({ retention: n })
  },
})

const CoreEnv = z.object({
  TIERBUS_TRANSPORT: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,39}$/, 'a tier name such as memory, postgres, redis, sqs or nats')
    .optional(),
  TIERBUS_SOURCE: z.string().min(1).optional(),
  TIERBUS_GROUP: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,100}$/, "1-100 letters, digits, '_', '.', ':' or '-'")
    .optional(),
  TIERBUS_CONCURRENCY: envVar.positiveInt().optional(),
  TIERBUS_RETRY_ATTEMPTS: z.coerce.number().int().min(1).max(1000).optional(),
  NODE_ENV: z.string().optional(),
})

/** How `transportFromEnv` finds tiers. */
export interface AdapterOptions {
  /**
   * The tiers this app can run on, e.g. `[redisAdapter, postgresAdapter]` (memory is always there). Passing
   * them is what makes the env-var flip work under bundlers such as Next.js's.
   */
  adapters?: readonly TierAdapter[]
  /**
   * Loads a tier package by name when its adapter was not passed; default: dynamic `import()`, which works
   * in plain Node but not in bundled apps (pass `adapters` there).
   */
  load?: (specifier: string) => Promise<unknown>
}

/** Options of `createBusFromEnv`: bus options, with `source` optional (env `TIERBUS_SOURCE`). */
export interface BusFromEnvOptions extends Omit<BusOptions, 'transport' | 'source'>, AdapterOptions {
  source?: string
  /** Where to read variables; default `process.env`. */
  env?: Env
}

function parseCoreEnv(env: Env) {
  return parseEnv(CoreEnv, env, 'invalid tierbus environment')
}

function registryOf(adapters: readonly TierAdapter[] = []): Map<string, TierAdapter> {
  const registry = new Map<string, TierAdapter>([[memoryAdapter.kind, memoryAdapter]])
  for (const a of adapters) {
    if (!isTierAdapter(a)) {
      throw new ConfigError(
        'createBusFromEnv({ adapters }): each adapter must be a tier descriptor { kind, install, create } such as redisAdapter from @tierbus/redis-streams',
      )
    }
    registry.set(a.selectedBy ?? a.kind, a)
  }
  return registry
}

/**
 * Builds the transport the environment names: a router when `TIERBUS_ROUTES` is set (each route's tier
 * from its usual variables), else the adapter selected by its own variable when one is set
 * (`TIERBUS_MIGRATION` for the migrator), else `TIERBUS_TRANSPORT` (default `memory` outside production; in
 * production it must be set, since memory loses events on restart). Fails at startup with a ConfigError
 * naming what to set, install or pass.
 */
export async function transportFromEnv(
  env: Env = process.env,
  options: AdapterOptions | AdapterOptions['load'] = {},
): Promise<Transport> {
  const { adapters, load = (s: string) => import(s) } = typeof options === 'function' ? { load: options } : options
  const registry = registryOf(adapters)
  const context: AdapterContext = {
    transportFromEnv: (inner) => transportFromEnv(inner, { adapters: [...registry.values()], load }),
  }
  if (env.TIERBUS_ROUTES) return routedFromEnv(env, context.transportFromEnv)
  const selector = [...registry.keys(), ...Object.keys(KNOWN_ADAPTERS)].find((key) => /^[A-Z]/.test(key) && env[key])
  if (selector)
    return build(
      await resolveAdapter(selector, `${selector} is set`, registry, load),
      env,
      context,
      `${selector} is set`,
    )
  const vars = parseCoreEnv(env)
  const kind = vars.TIERBUS_TRANSPORT ?? (vars.NODE_ENV === 'production' ? undefined : 'memory')
  if (!kind) {
    throw new ConfigError(
      `TIERBUS_TRANSPORT is not set and NODE_ENV is production: set it to one of ${knownKinds(registry)} (memory keeps nothing across restarts)`,
    )
  }
  const what = `TIERBUS_TRANSPORT=${kind}`
  return build(await resolveAdapter(kind, what, registry, load), env, context, what)
}

/**
 * `TIERBUS_ROUTES=coord.>=nats;work.>=postgres->sqs;>=redis`: each distinct tier built once from its own
 * variables (a `<from>-><to>` tier is that migration, as `TIERBUS_MIGRATION` would build it), then routed.
 */
async function routedFromEnv(env: Env, tierFromEnv: (env: Env) => Promise<Transport>): Promise<Transport> {
  for (const name of ['TIERBUS_TRANSPORT', 'TIERBUS_MIGRATION'] as const) {
    if (env[name]) {
      throw new ConfigError(
        `${name} and TIERBUS_ROUTES are both set: with routes, each route names its tier ` +
          `(a migration too, e.g. work.>=postgres->sqs); unset ${name}`,
      )
    }
  }
  const specs = parseRoutes(env.TIERBUS_ROUTES ?? '')
  const tiers = new Map<string, Transport>()
  try {
    for (const { tier } of specs) {
      if (tiers.has(tier)) continue
      const selected = routeMigration(tier) ? { TIERBUS_MIGRATION: tier } : { TIERBUS_TRANSPORT: tier }
      tiers.set(tier, await tierFromEnv({ ...env, TIERBUS_ROUTES: undefined, ...selected }))
    }
  } catch (err) {
    await Promise.allSettled([...tiers.values()].map((t) => t.close()))
    throw err
  }
  const transportOf = (tier: string): Transport => {
    const built = tiers.get(tier)
    if (!built) throw new ConfigError(`TIERBUS_ROUTES: tier ${tier} was not built`)
    return built
  }
  return routedTransport({ routes: specs.map((s) => ({ match: s.match, transport: transportOf(s.tier) })) })
}

function knownKinds(registry: ReadonlyMap<string, TierAdapter>): string {
  const kinds = new Set([...registry.values()].filter((a) => !a.selectedBy).map((a) => a.kind))
  for (const key of Object.keys(KNOWN_ADAPTERS)) if (!/^[A-Z]/.test(key)) kinds.add(key)
  return [...kinds].join(', ')
}

async function build(adapter: TierAdapter, env: Env, context: AdapterContext, what: string): Promise<Transport> {
  try {
    return await adapter.create(env, context)
  } catch (err) {
    if (err instanceof TierbusError) throw err
    throw new ConfigError(`${what}: ${(err as Error).message}`, { cause: err })
  }
}

/** The registered adapter for `key`, else the known package's, loaded by name (plain Node only). */
async function resolveAdapter(
  key: string,
  what: string,
  registry: ReadonlyMap<string, TierAdapter>,
  load: (s: string) => Promise<unknown>,
): Promise<TierAdapter> {
  const registered = registry.get(key)
  if (registered) return registered
  const known = KNOWN_ADAPTERS[key]
  if (!known) {
    throw new ConfigError(
      `${what}, but no adapter for '${key}' was passed to createBusFromEnv({ adapters }). Known tiers: ${knownKinds(registry)}; a third-party tier's package exports its adapter to pass there`,
    )
  }
  const install = `npm install ${known.package}${known.client ? ` ${known.client}` : ''}`
  const pass = `import { ${known.export} } from '${known.package}' and pass createBusFromEnv({ adapters: [${known.export}] })`
  let mod: { tierbusAdapters?: unknown }
  try {
    mod = (await load(known.package)) as typeof mod
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new ConfigError(
        `${what}, but no '${key}' adapter was passed and ${known.package} could not be loaded by name: either it is not installed (${install}), or a bundler (Next.js, serverless builds) cannot follow tierbus's dynamic import. Fix: ${install}, then ${pass}`,
        { cause: err },
      )
    }
    throw new ConfigError(
      `${what}: loading ${known.package} failed (${(err as Error).message}); check that \`${install}\` succeeded, then ${pass}`,
      { cause: err },
    )
  }
  const found = Array.isArray(mod.tierbusAdapters)
    ? (mod.tierbusAdapters as unknown[]).find((a) => isTierAdapter(a) && (a.selectedBy ?? a.kind) === key)
    : undefined
  if (!found)
    throw new ConfigError(
      `${known.package} exports no '${key}' adapter: install a version that matches @tierbus/core (${install}@latest)`,
    )
  return found as TierAdapter
}

/**
 * Creates a bus from environment variables: `TIERBUS_TRANSPORT` picks the tier, each tier reads its
 * own variables (see docs/tiers.md), and `TIERBUS_SOURCE`, `TIERBUS_GROUP`, `TIERBUS_CONCURRENCY`,
 * `TIERBUS_RETRY_ATTEMPTS` set bus defaults. Everything is validated before the bus exists.
 */
export async function createBusFromEnv(options: BusFromEnvOptions = {}): Promise<Bus> {
  const { env = process.env, load, adapters, ...busOptions } = options
  const vars = parseCoreEnv(env)
  const source = busOptions.source ?? vars.TIERBUS_SOURCE ?? env.npm_package_name
  if (!source)
    throw new ConfigError(
      'createBusFromEnv: pass { source } or set TIERBUS_SOURCE to name this producer, e.g. signalsloop/api',
    )
  const transport = await transportFromEnv(env, { ...(adapters ? { adapters } : {}), ...(load ? { load } : {}) })
  const retry =
    vars.TIERBUS_RETRY_ATTEMPTS !== undefined
      ? { ...busOptions.retry, attempts: vars.TIERBUS_RETRY_ATTEMPTS }
      : busOptions.retry
  return createBus({
    ...busOptions,
    transport,
    source,
    ...(vars.TIERBUS_GROUP !== undefined && busOptions.group === undefined ? { group: vars.TIERBUS_GROUP } : {}),
    ...(vars.TIERBUS_CONCURRENCY !== undefined && busOptions.concurrency === undefined
      ? { concurrency: vars.TIERBUS_CONCURRENCY }
      : {}),
    ...(retry ? { retry } : {}),
  })
}
