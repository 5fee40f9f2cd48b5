import { metricsRoute } from '@tierbus/next'
import { adminAuthorize } from '@/lib/admin'
import { getBus } from '@/lib/bus'

export const dynamic = 'force-dynamic'

/** Seed 004's metrics endpoint: volume, latency, error rate, DLQ count, groups, migration, advisor; admin token required. */
export const GET = metricsRoute({ bus: getBus, requirements: { agents: 2 }, authorize: adminAuthorize })
