// The option names of the naming guide (docs/adapters.md): an async factory, client: { sqs, sns }, and the
// deprecated sqsClient / snsClient still accepted.
import { ConfigError } from '@tierbus/core'
import { uniqueToken } from '@tierbus/core/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sqsTransport } from '../src/index.js'
import { type Emulator, emulatorClients, startEmulator } from './emulator.js'

let emulator: Emulator
beforeAll(async () => {
  emulator = await startEmulator()
})
afterAll(() => emulator?.stop())

describe('sqsTransport option names', () => {
  it('is async, and uses the app clients given as client or as the deprecated sqsClient/snsClient', async () => {
    const { sqs, sns } = emulatorClients(emulator.endpoint)
    for (const options of [{ client: { sqs, sns } }, { sqsClient: sqs, snsClient: sns }]) {
      const pending = sqsTransport({ ...options, prefix: uniqueToken('tb') })
      expect(pending).toBeInstanceOf(Promise)
      const transport = await pending
      await transport.topicArn()
      await transport.deleteNamespace()
      await transport.close()
    }
    // Neither close destroyed the app's clients: they still answer.
    await expect(
      sqsTransport({ client: { sqs, sns }, prefix: uniqueToken('tb') }).then(async (t) => {
        await t.topicArn()
        await t.deleteNamespace()
        await t.close()
      }),
    ).resolves.toBeUndefined()
    sqs.destroy()
    sns.destroy()
  })

  it('rejects only one of the deprecated clients with a ConfigError naming client: { sqs, sns }', async () => {
    const { sqs, sns } = emulatorClients(emulator.endpoint)
    await expect(sqsTransport({ sqsClient: sqs })).rejects.toThrow(ConfigError)
    await expect(sqsTransport({ sqsClient: sqs })).rejects.toThrow(/client: \{ sqs, sns \}/)
    sqs.destroy()
    sns.destroy()
  })
})
