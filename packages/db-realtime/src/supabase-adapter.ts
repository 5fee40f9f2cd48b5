import type { Env, TierAdapter, Transport } from '@tierbus/core'
import { parse, SupabaseEnv } from './env-schema.js'
import { supabaseTransport } from './supabase.js'

/** Builds the supabase transport from SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY, TIERBUS_DB_SCHEMA, TIERBUS_DB_POLL_MS */
export function supabaseFromEnv(env: Env): Promise<Transport> {
  const v = parse(SupabaseEnv, env, 'supabase')
  return supabaseTransport({
    url: v.SUPABASE_URL,
    serviceRoleKey: v.SUPABASE_SERVICE_ROLE_KEY,
    schema: v.TIERBUS_DB_SCHEMA,
    ...(v.TIERBUS_DB_POLL_MS ? { pollIntervalMs: v.TIERBUS_DB_POLL_MS } : {}),
  })
}

/** `TIERBUS_TRANSPORT=supabase` (SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY): over HTTP, so the Edge can use it too. */
export const supabaseAdapter: TierAdapter = Object.freeze<TierAdapter>({
  kind: 'supabase',
  install: '@tierbus/db-realtime @supabase/supabase-js',
  env: SupabaseEnv,
  create: supabaseFromEnv,
})
