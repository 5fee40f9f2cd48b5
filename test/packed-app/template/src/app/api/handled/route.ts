import { getBus, state } from '@/lib/bus'

export const dynamic = 'force-dynamic'

/** GET ?run=: which events of a run the handler has seen. */
export async function GET(request: Request): Promise<Response> {
  const run = new URL(request.url).searchParams.get('run') ?? ''
  const bus = await getBus()
  const handled = [...state.handled].filter((k) => k.startsWith(`${run}:`)).map((k) => Number(k.slice(run.length + 1)))
  return Response.json({ transport: bus.transport.name, handled: handled.sort((a, b) => a - b) }, { headers: { 'cache-control': 'no-store' } })
}
