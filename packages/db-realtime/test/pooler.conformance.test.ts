// The shared conformance suite (runTransportConformance in packages/core/src/testing/conformance.ts) on the
// postgres transport through a private PgBouncer 1.18 in transaction mode: unnamed statements, polling, no LISTEN.
// Its assertions are the suite's own cases.
import { runTransportConformance } from '@tierbus/core/testing'
import { afterAll, beforeAll } from 'vitest'
import { type PrivateBroker, startPgBouncer } from '../../../test/outage/brokers.js'
import { DB_REALTIME_CAPABILITIES } from '../src/index.js'
import { freshPostgresTransport, injectRawPg } from './helpers.js'

let bouncer: PrivateBroker
beforeAll(async () => {
  bouncer = await startPgBouncer({ poolSize: 4 })
}, 90_000)
afterAll(() => bouncer?.cleanup())

runTransportConformance(
  'postgres through PgBouncer (transaction mode)',
  () => freshPostgresTransport({ url: bouncer.url, pooler: 'transaction', pollIntervalMs: 50 }),
  {
    capabilities: DB_REALTIME_CAPABILITIES,
    injectRaw: injectRawPg,
  },
)
