import { describe, expect, it } from 'vitest'
import { pgliteTransport } from '../src/index.js'

describe('db-realtime connection state', () => {
  // PGlite starts and migrates in this process: slow on a loaded machine, hence the generous timeout.
  it('PGlite (in-process) reports up once ready and closed on close', async () => {
    const states: string[] = []
    const transport = await pgliteTransport({ onConnectionState: (s) => void states.push(s), publishTimeoutMs: 1_000 })
    expect(states).toEqual(['up'])
    await transport.close()
    expect(states).toEqual(['up', 'closed'])
  }, 120_000)
})
