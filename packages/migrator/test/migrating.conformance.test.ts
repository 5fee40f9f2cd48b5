// The assertions are the shared suite's: runTransportConformance in packages/core/src/testing/conformance.ts.
// The migrating transport is a Transport too, so it must pass the same suite in every phase.
import type { Transport } from '@tierbus/core'
import { runTransportConformance } from '@tierbus/core/testing'
import { DB_REALTIME_CAPABILITIES } from '@tierbus/db-realtime'
import { migratingTransport, migrationCapabilities, PHASE_BEHAVIOUR, PHASES, type Phase } from '@tierbus/migrator'
import { REDIS_CAPABILITIES, type RedisStreamsTransport } from '@tierbus/redis-streams'
import { afterAll } from 'vitest'
import { freshPostgresTransport, injectRawPg } from '../../db-realtime/test/helpers.js'
import { adminClient, injectRawEntry, isolatedRedisTransport } from '../../redis-streams/test/helpers.js'

const admin = adminClient()
afterAll(() => admin.quit())

/** The tiers under each migrating transport, for writing raw messages into the one that handles. */
const tiersOf = new WeakMap<Transport, { source: Transport; target: Transport }>()

/** postgres -> redis in `phase`, each tier on a fresh schema / key prefix that its close() removes. */
async function freshMigration(phase: Phase): Promise<Transport> {
  const source = await freshPostgresTransport()
  const target = await isolatedRedisTransport(admin)
  const transport = migratingTransport({ source, target, phase, shadowGraceMs: 100, onError: () => {} })
  tiersOf.set(transport, { source, target })
  return transport
}

for (const phase of PHASES) {
  runTransportConformance(`migrating postgres->redis (${phase})`, () => freshMigration(phase), {
    capabilities: migrationCapabilities(DB_REALTIME_CAPABILITIES, REDIS_CAPABILITIES),
    injectRaw: async (transport, type, raw) => {
      const tiers = tiersOf.get(transport)!
      // Into the tier whose handlers run in this phase (in cutover both do: the source's backlog drains).
      if (PHASE_BEHAVIOUR[phase].handle[0] === 'source') await injectRawPg(tiers.source, type, raw)
      else await injectRawEntry(admin, tiers.target as RedisStreamsTransport, type, raw)
    },
  })
}
