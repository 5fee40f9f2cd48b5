// The assertions are the shared suite's: runTransportConformance in packages/core/src/testing/conformance.ts.
import { runTransportConformance } from '@tierbus/core/testing'
import { NATS_CAPABILITIES, type NatsTransport } from '../src/index.js'
import { isolatedTransport } from './helpers.js'

runTransportConformance('nats', () => isolatedTransport(), {
  capabilities: NATS_CAPABILITIES,
  // Garbage published straight on the type's subject, as a non-tierbus producer could.
  injectRaw: async (transport, type, raw) => {
    const t = transport as NatsTransport
    await t.connection.jetstream().publish(t.subjects.subjectFor(type), raw)
  },
  injectBytes: async (transport, type, bytes) => {
    const t = transport as NatsTransport
    await t.connection.jetstream().publish(t.subjects.subjectFor(type), bytes)
  },
})
