import { createBus, defineEvent } from '@tierbus/core'
import { eventually } from '@tierbus/core/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { RetentionWarning, SQS_DEFAULTS, TOPOLOGY_DEFAULTS } from '../src/index.js'
import { type Emulator, isolatedTransport, startEmulator } from './emulator.js'

const Note = defineEvent('note.kept', z.object({ n: z.number() }))

let emulator: Emulator
beforeAll(async () => {
  emulator = await startEmulator()
})
afterAll(() => emulator?.stop())
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

describe("sqs: AWS's retention limit is surfaced", () => {
  it('keeps queues for the 14 days AWS allows and warns by default once a backlog is half that old', () => {
    expect(TOPOLOGY_DEFAULTS.retentionSeconds).toBe(14 * 86_400)
    expect(SQS_DEFAULTS.retentionWarnAfterMs).toBe(7 * 86_400_000)
  })

  it('reports a RetentionWarning naming the group when it receives a message older than retentionWarnAfterMs, at most once a minute', async () => {
    const warnings: unknown[] = []
    const t = await isolatedTransport(emulator.endpoint, {
      retentionWarnAfterMs: 1,
      onError: (err) => void warnings.push(err),
    })
    cleanups.push(() => t.close())
    const b = createBus({ transport: t, source: 'sqs-retention', closeTransport: false })
    cleanups.push(() => b.close({ timeoutMs: 1_000 }))
    let handled = 0
    await b.subscribe(Note, () => void handled++, { group: 'laggard' })
    for (let n = 0; n < 3; n++) await b.publish(Note, { n })
    await eventually(() => handled === 3, 'the 3 events')
    const retention = warnings.filter((w) => w instanceof RetentionWarning)
    expect(retention).toHaveLength(1)
    expect((retention[0] as RetentionWarning).group).toBe('laggard')
    expect((retention[0] as Error).message).toMatch(/14 days/)
  })
})
