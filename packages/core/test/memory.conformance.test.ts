// The assertions are the shared suite's: runTransportConformance in packages/core/src/testing/conformance.ts.
import { MEMORY_CAPABILITIES, type MemoryTransportApi, memoryTransport } from '@tierbus/core'
import { runTransportConformance } from '@tierbus/core/testing'

runTransportConformance('memory', async () => memoryTransport(), {
  capabilities: MEMORY_CAPABILITIES,
  injectRaw: async (transport, type, raw) => (transport as MemoryTransportApi).injectRaw(type, raw),
})
