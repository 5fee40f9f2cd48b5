import { bearer, deadLetterRoutes } from '@tierbus/next'
import { getBus } from '@/lib/bus'

export const dynamic = 'force-dynamic'

// The token is read per request: `next build` loads this module without the runtime env.
export const { GET, POST, DELETE } = deadLetterRoutes({
  bus: getBus,
  authorize: (request) => bearer(process.env.TIERBUS_ADMIN_TOKEN)(request),
})
