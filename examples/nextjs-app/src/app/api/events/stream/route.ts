import { streamRoute } from '@tierbus/next'
import { adminAuthorize } from '@/lib/admin'
import { getBus } from '@/lib/bus'

export const dynamic = 'force-dynamic'

/**
 * GET: the dashboard's live feed, Server-Sent Events of every feedback.* event. One subscription (group
 * `dashboard-stream`) serves every open dashboard; a reconnecting browser resumes from Last-Event-ID.
 */
export const GET = streamRoute({
  bus: getBus,
  events: ['feedback.*'],
  group: 'dashboard-stream',
  authorize: adminAuthorize,
})
