import { deadLetterRoutes } from '@tierbus/next'
import { getBus } from '@/lib/bus'

export const dynamic = 'force-dynamic'

/** List (GET), redrive (POST { ids }) and purge (DELETE { ids }) dead letters. */
export const { GET, POST, DELETE } = deadLetterRoutes({ bus: getBus })
