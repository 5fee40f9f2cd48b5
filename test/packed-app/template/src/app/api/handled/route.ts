import { state } from '@/lib/bus'

export const dynamic = 'force-dynamic'

/** GET ?run=: whether the consumer is running, and which events of a run it has handled. */
export async function GET(request: Request): Promise<Response> {
  const run = new URL(request.url).searchParams.get('run') ?? ''
  const handled = [...state.handled].filter((k) => k.startsWith(`${run}:`)).map((k) => Number(k.slice(run.length + 1)))
  return Response.json(
    { ready: state.ready, transport: state.transport, handled: handled.sort((a, b) => a - b) },
    { headers: { 'cache-control': 'no-store' } },
  )
}
