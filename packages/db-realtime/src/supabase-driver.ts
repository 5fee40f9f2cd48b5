import { ConfigError, TransportError } from '@tierbus/core'
import type { SupabaseClient } from '@supabase/supabase-js'
import { dbError } from './db-errors.js'
import type { DbDriver } from './driver.js'
import { DB_FUNCTIONS, type DbRow } from './statements.js'

/** Options of the Supabase driver. */
export interface SupabaseDriverOptions {
  /** An app-owned client created with the service-role key (on Node < 22 pass `realtime: { transport: WebSocket }` from `ws`). */
  client?: SupabaseClient
  /** Project URL (env SUPABASE_URL), used when no client is given. */
  url?: string
  /** Service-role key (env SUPABASE_SERVICE_ROLE_KEY); never ship it to a browser. */
  serviceRoleKey?: string
}

/** Creates a service-role Supabase client from url + key (sessions off: this is a server). */
export async function openSupabase(options: SupabaseDriverOptions): Promise<SupabaseClient> {
  if (options.client) return options.client
  if (!options.url || !options.serviceRoleKey) {
    throw new ConfigError('supabaseTransport needs { client } or { url, serviceRoleKey } (env SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY)')
  }
  let mod: typeof import('@supabase/supabase-js')
  try {
    mod = await import('@supabase/supabase-js')
  } catch (err) {
    throw new ConfigError('the supabase driver needs @supabase/supabase-js: npm install @supabase/supabase-js', { cause: err })
  }
  return mod.createClient(options.url, options.serviceRoleKey, { auth: { persistSession: false, autoRefreshToken: false } })
}

/**
 * Builds the Supabase driver: every call is a PostgREST RPC of a tierbus SQL function (so it works
 * where TCP does not, e.g. edge runtimes), and Realtime `postgres_changes` on the events table is the
 * push. The schema must be in the project's "Exposed schemas" (API settings) for RPC to reach it.
 */
export function supabaseDriver(schema: string, client: SupabaseClient): DbDriver {
  const rest = client.schema(schema)
  return {
    kind: 'supabase',
    schema,
    async call(fn, args) {
      const { params, returns } = DB_FUNCTIONS[fn]
      const named: Record<string, unknown> = {}
      for (const [i, p] of params.entries()) named[p] = args[i] ?? null
      const { data, error } = await rest.rpc(fn, named)
      if (error) throw dbError(Object.assign(new Error(error.message), { code: error.code }), `supabase rpc ${fn}`, schema)
      if (returns === 'rows') return (data ?? []) as DbRow[]
      return [{ value: data }]
    },
    async check() {
      const { error } = await rest.rpc('dead_letter_list', { p_group_name: null, p_limit: 0 })
      if (error) throw dbError(Object.assign(new Error(error.message), { code: error.code }), 'supabase transport startup', schema)
    },
    async listen(onHint, onError) {
      // Realtime is best-effort (it drops changes around subscribe/reconnect): polling stays on regardless.
      try {
        const channel = client
          .channel(`tierbus:${schema}:events`)
          .on('postgres_changes', { event: 'INSERT', schema, table: 'events' }, (change) => {
            const type = (change.new as { type?: unknown } | undefined)?.type
            onHint(typeof type === 'string' ? type : '*')
          })
          .subscribe((status, err) => {
            if (status === 'SUBSCRIBED') onHint('*')
            else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') {
              onError(new TransportError(`supabase Realtime channel ${status.toLowerCase()}${err ? `: ${err.message}` : ''}; polling continues`))
            }
          })
        return async () => {
          await client.removeChannel(channel)
        }
      } catch (err) {
        onError(new TransportError(`supabase Realtime unavailable (${(err as Error).message}); polling only. On Node < 22 create the client with realtime: { transport: WebSocket } from 'ws'`, { cause: err }))
        return async () => {}
      }
    },
    async close() {
      await client.removeAllChannels().catch(() => {})
    },
  }
}
