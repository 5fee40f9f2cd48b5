// The assertions are the shared suite's: runTransportConformance in packages/core/src/testing/conformance.ts.
import { runTransportConformance } from '@tierbus/core/testing'
import { afterAll, beforeAll } from 'vitest'
import { SQS_FIFO_CAPABILITIES, type SqsTransport } from '../src/index.js'
import { type Emulator, isolatedTransport, startEmulator } from './emulator.js'

let emulator: Emulator
beforeAll(async () => {
  emulator = await startEmulator()
})
afterAll(() => emulator?.stop())

runTransportConformance('sqs-fifo', async () => isolatedTransport(emulator.endpoint, { fifo: true }), {
  capabilities: SQS_FIFO_CAPABILITIES,
  injectRaw: (transport, type, raw) => (transport as SqsTransport).publishRaw(type, raw),
})
