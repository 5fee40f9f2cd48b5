// The assertions are the shared suite's: runTransportConformance in packages/core/src/testing/conformance.ts.
// claimCheckTransport is a Transport too: here over a real Postgres with bodies in the db tier's own
// payloads table, its limit raised from the tier's 1 MiB to 12 MiB (the large-payload case sends ~12 MiB).
import { claimCheckTransport } from '@tierbus/core'
import { runTransportConformance } from '@tierbus/core/testing'
import { DB_REALTIME_CAPABILITIES, type DbRealtimeTransport } from '@tierbus/db-realtime'
import { freshPostgresTransport, injectRawPg } from '../../packages/db-realtime/test/helpers.js'

const MAX = 12 * 1024 * 1024
const inner = new WeakMap<object, DbRealtimeTransport>()

runTransportConformance(
  'claim-check over postgres',
  async () => {
    const postgres = await freshPostgresTransport()
    const transport = claimCheckTransport(postgres, { store: postgres.payloadStore(), maxPayloadBytes: MAX })
    inner.set(transport, postgres)
    return transport
  },
  {
    capabilities: { ...DB_REALTIME_CAPABILITIES, maxPayloadBytes: MAX },
    injectRaw: async (transport, type, raw) => {
      const postgres = inner.get(transport)
      if (!postgres) throw new Error('not a transport of this file')
      await injectRawPg(postgres, type, raw)
    },
    timeoutMs: 30_000,
  },
)
