import { supabaseAdapter } from '@tierbus/db-realtime/edge'
import { sharedBus } from '@tierbus/next'
import { upstashAdapter } from '@tierbus/redis-streams/edge'
import { OrderPlaced } from '@/lib/events'

// Publishing from the Edge runtime: only the HTTP tiers (Upstash, Supabase), imported from their /edge entries.
export const runtime = 'edge'

const getBus = () =>
  sharedBus({ source: 'packed-app/edge', events: [OrderPlaced], adapters: [upstashAdapter, supabaseAdapter] })

/** POST { run, count }: publishes `count` order.placed events from the edge; says which runtime ran it. */
export async function POST(request: Request): Promise<Response> {
  const body = (await request.json().catch(() => null)) as { run?: unknown; count?: unknown } | null
  if (!body || typeof body.run !== 'string' || typeof body.count !== 'number')
    return Response.json({ error: 'send { run, count }' }, { status: 400 })
  const bus = await getBus()
  const sent = await bus.publishBatch(
    OrderPlaced,
    Array.from({ length: body.count }, (_, n) => ({ run: body.run as string, n })),
  )
  const runtime = (globalThis as { EdgeRuntime?: string }).EdgeRuntime ?? 'nodejs'
  return Response.json({ ids: sent.map((e) => e.id), transport: bus.transport.name, runtime }, { status: 201 })
}
