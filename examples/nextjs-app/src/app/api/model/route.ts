import { guardedRoute } from '@tierbus/next'
import { adminAuthorize } from '@/lib/admin'
import { state } from '@/lib/bus'

export const dynamic = 'force-dynamic'

/**
 * Turns the (simulated) sentiment model off or on: off, handlers fail and events reach the DLQ. An admin
 * action, so it takes the same protection as tierbus's routes (token, JSON only, same origin).
 */
export const POST = guardedRoute('/api/model', { authorize: adminAuthorize }, async (request) => {
  const body = (await request.json().catch(() => ({}))) as { healthy?: unknown }
  state.model.healthy = body.healthy !== false
  return Response.json(state.model)
})
