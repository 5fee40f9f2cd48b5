import { state } from '@/lib/bus'

export const dynamic = 'force-dynamic'

/** POST { failing }: makes the handler throw (to force dead letters) or succeed. */
export async function POST(request: Request): Promise<Response> {
  const body = (await request.json().catch(() => null)) as { failing?: unknown } | null
  state.failing = body?.failing === true
  return Response.json({ failing: state.failing })
}
