/**
 * @tierbus/db-realtime/edge — the part of the db tier that runs in edge runtimes (Next.js middleware,
 * `export const runtime = 'edge'` routes): the supabase transport, which talks HTTP through supabase-js.
 * Nothing here imports pg, PGlite or a Node built-in, so an edge bundle stays free of them.
 */

export type { SupabaseTransportOptions } from './supabase.js'
export { supabaseTransport } from './supabase.js'
export { supabaseAdapter, supabaseFromEnv } from './supabase-adapter.js'
