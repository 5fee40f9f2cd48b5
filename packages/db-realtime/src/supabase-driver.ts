import { ConfigError, TransportError } from '@tierbus/core'
import { dbError } from './db-errors.js'
import type { DbDriver } from './driver.js'
import { DB_FUNCTIONS, type DbRow } from './statements.js'

/** What a supabase-js `rpc()` call resolves to. */
export interface SupabaseRpcResult {
  data: unknown
  error: { message: string; code?: string } | null
}

/** The Realtime channel calls tierbus makes (a supabase-js `RealtimeChannel` fits). */
export interface SupabaseChannelLike {
  on(
    type: 'postgres_changes',
    filter: { event: 'INSERT'; schema: string; table: string },
    callback: (payload: { new: Record<string, unknown> }) => void,
  ): SupabaseChannelLike
  subscribe(callback?: (status: string, err?: Error) => void): SupabaseChannelLike
}

/**
 * What tierbus uses of a supabase-js client (one from `createClient` fits): RPC in a schema and Realtime
 * channels. Declared here so the package's types never need `@supabase/supabase-js`'s.
 */
export interface SupabaseClientLike {
  schema(schema: string): {
    rpc(fn: string, args?: Record<string, unknown>): PromiseLike<SupabaseRpcResult>
  }
  channel(name: string): SupabaseChannelLike
  removeChannel(channel: SupabaseChannelLike): Promise<unknown>
  removeAllChannels(): Promise<unknown>
}

/** Options of the Supabase driver. */
export interface SupabaseDriverOptions {
  /** An app-owned client created with the service-role key (on Node < 22 pass `realtime: { transport: WebSocket }` from `ws`). */
  client?: SupabaseClientLike
  /** Project URL (env SUPABASE_URL), used when no client is given. */
  url?: string
  /** Service-role key (env SUPABASE_SERVICE_ROLE_KEY); never ship it to a browser. */
  serviceRoleKey?: string
}

/** Creates a service-role Supabase client from url + key (sessions off: this is a server). */
export async function openSupabase(options: SupabaseDriverOptions): Promise<SupabaseClientLike> {
  if (options.client) return options.client
  if (!options.url || !options.serviceRoleKey) {
    throw new ConfigError(
      'supabaseTransport needs { client } or { url, serviceRoleKey } (env SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY)',
    )
  }
  let mod: typeof import('@supabase/supabase-js')
  try {
    mod = await import('@supabase/supabase-js')
  } catch (err) {
    throw new ConfigError('the supabase driver needs @supabase/supabase-js: npm install @supabase/supabase-js', {
      cause: err,
    })
  }
  return mod.createClient(options.url, options.serviceRoleKey, {
    auth: { persistSession: false, autoRefreshToken: false },
  })
}

/**
 * Builds the Supabase driver: every call is a PostgREST RPC of a tierbus SQL function (so it works
 * where TCP does not, e.g. edge runtimes), and Realtime `postgres_changes` on the events table is the
 * push. The schema must be in the project's "Exposed schemas" (API settings) for RPC to reach it.
 */
export function supabaseDriver(schema: string, client: SupabaseClientLike): DbDriver {
  const rest = client.schema(schema)
  return {
    kind: 'supabase',
    schema,
    async call(fn, args) {
      const { params, returns } = DB_FUNCTIONS[fn]
      const named: Record<string, unknown> = {}
      for (const [i, p] of params.entries()) named[p] = args[i] ?? null
      const { data, error } = await rest.rpc(fn, named)
      if (error)
        throw dbError(Object.assign(new Error(error.message), { code: error.code }), `supabase rpc ${fn}`, schema)
      if (returns === 'rows') return (data ?? []) as DbRow[]
      return [{ value: data }]
    },
    async check() {
      const { error } = await rest.rpc('dead_letter_list', { p_group_name: null, p_limit: 0 })
      if (error)
        throw dbError(
          Object.assign(new Error(error.message), { code: error.code }),
          'supabase transport startup',
          schema,
        )
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
              onError(
                new TransportError(
                  `supabase Realtime channel ${status.toLowerCase()}${err ? `: ${err.message}` : ''}; polling continues`,
                ),
              )
            }
          })
        return async () => {
          await client.removeChannel(channel)
        }
      } catch (err) {
        onError(
          new TransportError(
            `supabase Realtime unavailable (${(err as Error).message}); polling only. On Node < 22 create the client with realtime: { transport: WebSocket } from 'ws'`,
            { cause: err },
          ),
        )
        return async () => {}
      }
    },
    async close() {
      await client.removeAllChannels().catch(() => {})
    },
  }
}
