import { state } from '@/lib/bus'

export const dynamic = 'force-dynamic'

/** Turns the (simulated) sentiment model off or on: off, handlers fail and events reach the DLQ. */
export async function POST(request: Request): Promise<Response> {
  const body = (await request.json().catch(() => ({}))) as { healthy?: unknown }
  state.model.healthy = body.healthy !== false
  return Response.json(state.model)
}
