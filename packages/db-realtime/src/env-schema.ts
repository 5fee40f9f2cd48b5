import type { Env } from '@tierbus/core'
import { envVar, parseEnv } from '@tierbus/core/adapter'
import { z } from 'zod'
import { POOLER_MODES } from './pooler.js'
import { SCHEMA_NAME } from './schema-name.js'
import { DB_REALTIME_DEFAULTS } from './transport.js'

// The env vars of each db-realtime tier, apart from the transports they build (so the supabase adapter,
// the edge entry's only tier, does not pull the pg and PGlite code into an edge bundle).
const Common = z.object({
  TIERBUS_DB_SCHEMA: z
    .string()
    .regex(SCHEMA_NAME, 'use 1-40 lowercase letters, digits or _')
    .default(DB_REALTIME_DEFAULTS.schema),
  TIERBUS_DB_POLL_MS: envVar.positiveInt().optional(),
})

const POSTGRES_URL = envVar.url(['postgres', 'postgresql'], 'postgres://user:pass@host:5432/db')
export const PostgresEnv = Common.extend({
  DATABASE_URL: POSTGRES_URL.optional(),
  TIERBUS_DATABASE_URL: POSTGRES_URL.optional(),
  DIRECT_URL: POSTGRES_URL.optional(),
  TIERBUS_DIRECT_URL: POSTGRES_URL.optional(),
  TIERBUS_DB_POOLER: z.enum(POOLER_MODES).optional(),
})
export const PgliteEnv = Common.extend({ TIERBUS_PGLITE_DIR: z.string().min(1).optional() })
export const SupabaseEnv = Common.extend({
  SUPABASE_URL: z.string().url('expected https://<project>.supabase.co'),
  SUPABASE_SERVICE_ROLE_KEY: z.string().min(20, 'expected the service-role key (Project settings > API)'),
})

/** Parses `env` with `schema`, failing with one ConfigError that names the tier. */
export function parse<T extends z.ZodType>(schema: T, env: Env, kind: string): z.infer<T> {
  return parseEnv(schema, env, `TIERBUS_TRANSPORT=${kind}`)
}
