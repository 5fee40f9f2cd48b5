import {
  type AdapterContext,
  ConfigError,
  type Env,
  type TierAdapter,
  type Transport,
  transportFromEnv,
} from '@tierbus/core'
import { type MigratingTransport, migratingTransport } from './migrating-transport.js'
import { type PgLike, postgresMigrationStore } from './pg-store.js'
import { parseMigration, parsePhase } from './phases.js'
import { type RedisLike, redisMigrationStore } from './redis-store.js'
import { type MigrationStore, memoryMigrationStore } from './store.js'

/** Defaults of the env-driven migration. */
export const MIGRATION_DEFAULTS = Object.freeze({ phasePollMs: 2_000 })

type Loader = (specifier: string) => Promise<unknown>
const importer: Loader = (s) => import(s)

/**
 * The shared store named by `TIERBUS_MIGRATION_STORE`: `redis://…`, `postgres://…` (tables in schema
 * `TIERBUS_MIGRATION_SCHEMA`, default `tierbus`), or `memory` (one process; the default outside production).
 */
export async function migrationStoreFromEnv(env: Env, load: Loader = importer): Promise<MigrationStore> {
  const url = env.TIERBUS_MIGRATION_STORE
  if (!url || url === 'memory') {
    if (env.NODE_ENV === 'production') {
      throw new ConfigError(
        'TIERBUS_MIGRATION_STORE is not set: in production several processes share a migration, so set it to a redis:// or postgres:// URL',
      )
    }
    return memoryMigrationStore()
  }
  const clientOf = async (pkg: string) => {
    try {
      return (await load(pkg)) as Record<string, unknown>
    } catch (err) {
      throw new ConfigError(
        `TIERBUS_MIGRATION_STORE names a ${pkg === 'pg' ? 'postgres' : 'redis'} store, which needs the ${pkg} package: npm install ${pkg}`,
        { cause: err },
      )
    }
  }
  if (/^rediss?:\/\//.test(url)) {
    const mod = await clientOf('ioredis')
    const Redis = (mod.Redis ?? mod.default) as new (url: string) => RedisLike
    return redisMigrationStore(new Redis(url), { ownsClient: true })
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const mod = await clientOf('pg')
    const Pool = ((mod.default as Record<string, unknown> | undefined)?.Pool ?? mod.Pool) as new (o: {
      connectionString: string
      max: number
    }) => PgLike
    return postgresMigrationStore(new Pool({ connectionString: url, max: 4 }), {
      ownsClient: true,
      schema: env.TIERBUS_MIGRATION_SCHEMA ?? 'tierbus',
    })
  }
  // The value is not echoed: a mistyped store URL still holds its password.
  throw new ConfigError(
    'TIERBUS_MIGRATION_STORE is not a store URL tierbus knows: use redis://…, postgres://… or memory (rediss:// and postgresql:// work too)',
  )
}

/**
 * Builds the migrating transport `TIERBUS_MIGRATION=<from>-><to>` describes: both tiers from their own
 * variables, the shared store, and the phase (the store's, else `TIERBUS_MIGRATION_PHASE`, else `source`).
 * `createBusFromEnv` calls this when `TIERBUS_MIGRATION` is set.
 */
export async function migrationTransportFromEnv(
  env: Env,
  load: Loader = importer,
  context?: AdapterContext,
): Promise<MigratingTransport> {
  const tier = (tierVars: Env): Promise<Transport> =>
    context ? context.transportFromEnv(tierVars) : transportFromEnv(tierVars, { load })
  const name = env.TIERBUS_MIGRATION ?? ''
  const { from, to } = parseMigration(name)
  if (env.TIERBUS_TRANSPORT && env.TIERBUS_TRANSPORT !== from && env.TIERBUS_TRANSPORT !== to) {
    throw new ConfigError(`TIERBUS_TRANSPORT conflicts with TIERBUS_MIGRATION=${name}: unset it, or set it to ${from}`)
  }
  const initial = env.TIERBUS_MIGRATION_PHASE ? parsePhase(env.TIERBUS_MIGRATION_PHASE) : 'source'
  const tierEnv = (kind: string): Env => ({ ...env, TIERBUS_TRANSPORT: kind, TIERBUS_MIGRATION: undefined })
  const source = await tier(tierEnv(from))
  const target = await tier(tierEnv(to)).catch(async (err: unknown) => {
    await source.close()
    throw err
  })
  const store = await migrationStoreFromEnv(env, load)
  let phase = await store.readPhase(name)
  if (!phase) {
    // The first process seeds the phase; if another one did meanwhile, follow what it wrote.
    phase = (await store.writePhase(name, initial, undefined)) ? initial : ((await store.readPhase(name)) ?? initial)
  }
  const pollMs = env.TIERBUS_MIGRATION_POLL_MS ? Number(env.TIERBUS_MIGRATION_POLL_MS) : MIGRATION_DEFAULTS.phasePollMs
  if (!Number.isFinite(pollMs) || pollMs < 10)
    throw new ConfigError('TIERBUS_MIGRATION_POLL_MS must be a number of milliseconds >= 10')
  // A db-tier source is a transactional outbox (SignalsLoop's queue evaluation relies on it): the app writes events in its own
  // transactions and a relay forwards them. TIERBUS_MIGRATION_RELAY=external leaves the relay to a
  // dedicated process.
  const relay = env.TIERBUS_MIGRATION_RELAY ?? 'in-process'
  if (relay !== 'in-process' && relay !== 'external')
    throw new ConfigError('TIERBUS_MIGRATION_RELAY must be in-process or external')
  const outbox = ['postgres', 'pglite', 'supabase'].includes(from) ? { outbox: relay as 'in-process' | 'external' } : {}
  const transport = migratingTransport({
    source,
    target,
    phase,
    dedup: store,
    control: { store, migration: name, pollMs },
    ...outbox,
  })
  const close = transport.close.bind(transport)
  return Object.assign(transport, {
    close: async () => {
      await close()
      await store.close()
    },
  })
}

/**
 * The migrator as a tier descriptor, selected whenever `TIERBUS_MIGRATION` is set: pass it with the two
 * tiers' adapters, `createBusFromEnv({ adapters: [migrationAdapter, postgresAdapter, redisAdapter] })`.
 */
export const migrationAdapter: TierAdapter = Object.freeze<TierAdapter>({
  kind: 'migration',
  selectedBy: 'TIERBUS_MIGRATION',
  install: '@tierbus/migrator',
  create: (env: Env, context: AdapterContext) => migrationTransportFromEnv(env, importer, context),
})

/** Every adapter of this package. */
export const tierbusAdapters: readonly TierAdapter[] = Object.freeze([migrationAdapter])
