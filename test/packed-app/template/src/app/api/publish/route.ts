import { getBus, OrderPlaced } from '@/lib/bus'

export const dynamic = 'force-dynamic'

/** POST { run, count }: publishes `count` order.placed events numbered 0..count-1. */
export async function POST(request: Request): Promise<Response> {
  const body = (await request.json().catch(() => null)) as { run?: unknown; count?: unknown } | null
  if (!body || typeof body.run !== 'string' || typeof body.count !== 'number')
    return Response.json({ error: 'send { run, count }' }, { status: 400 })
  const bus = await getBus()
  const sent = await bus.publishBatch(
    OrderPlaced,
    Array.from({ length: body.count }, (_, n) => ({ run: body.run as string, n })),
  )
  return Response.json({ ids: sent.map((e) => e.id), transport: bus.transport.name }, { status: 201 })
}
