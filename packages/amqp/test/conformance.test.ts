// The assertions are the shared suite's: runTransportConformance in packages/core/src/testing/conformance.ts.
import { runTransportConformance } from '@tierbus/core/testing'
import { AMQP_DEFAULTS, type AmqpTransport, amqpCapabilities } from '../src/index.js'
import { isolatedTransport } from './helpers.js'

runTransportConformance('amqp', () => isolatedTransport(), {
  capabilities: amqpCapabilities(AMQP_DEFAULTS.maxPayloadBytes),
  // Garbage published straight to the topic exchange under the type, as a non-tierbus producer could.
  injectRaw: async (transport, type, raw) => {
    const t = transport as AmqpTransport
    const ch = await t.connection!.createConfirmChannel()
    ch.publish(t.names.exchange, type, Buffer.from(raw), { persistent: true })
    await ch.waitForConfirms()
    await ch.close()
  },
})
