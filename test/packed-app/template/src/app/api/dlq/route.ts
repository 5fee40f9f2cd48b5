import { deadLetterRoutes } from '@tierbus/next'
import { getBus } from '@/lib/bus'

export const dynamic = 'force-dynamic'

export const { GET, POST, DELETE } = deadLetterRoutes({ bus: getBus })
