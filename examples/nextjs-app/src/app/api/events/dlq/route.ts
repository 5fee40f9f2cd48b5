import { deadLetterRoutes } from '@tierbus/next'
import { adminAuthorize } from '@/lib/admin'
import { getBus } from '@/lib/bus'

export const dynamic = 'force-dynamic'

/** List (GET), redrive (POST { ids }) and purge (DELETE { ids }) dead letters; admin token required. */
export const { GET, POST, DELETE } = deadLetterRoutes({ bus: getBus, authorize: adminAuthorize })
