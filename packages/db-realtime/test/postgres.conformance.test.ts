// The assertions are the shared suite's: runTransportConformance in packages/core/src/testing/conformance.ts.
import { runTransportConformance } from '@tierbus/core/testing'
import { DB_REALTIME_CAPABILITIES } from '../src/index.js'
import { freshPostgresTransport, injectRawPg } from './helpers.js'

runTransportConformance('postgres', () => freshPostgresTransport(), {
  capabilities: DB_REALTIME_CAPABILITIES,
  injectRaw: injectRawPg,
})
