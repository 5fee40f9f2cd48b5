import { createBus, deadLetterBody, defineEvent } from '@tierbus/core'
import { eventually } from '@tierbus/core/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { type Emulator, isolatedTransport, startEmulator } from './emulator.js'

const Note = defineEvent('note.sent', z.object({ n: z.number() }))

let emulator: Emulator
beforeAll(async () => {
  emulator = await startEmulator()
})
afterAll(() => emulator?.stop())

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

describe('sqs: dead letters keep the exact body and the real reason', () => {
  it('dead-letters a body with characters SQS refuses to re-send, as malformed, byte for byte', async () => {
    const t = await isolatedTransport(emulator.endpoint)
    cleanups.push(() => t.close())
    const b = createBus({ transport: t, source: 'sqs-dlq-bytes', closeTransport: false, onError: () => {} })
    cleanups.push(() => b.close({ timeoutMs: 1_000 }))
    await b.subscribe(Note, () => {}, { group: 'g', retry: { attempts: 2 } })
    // Control characters: SNS delivered them, but SQS SendMessage answers InvalidMessageContents.
    const body = '\u0001\u0002 not an envelope \u0008\uFFFF'
    await t.publishRaw(Note.type, body)
    await eventually(() => b.metrics().totals.deadLettered === 1, 'the body to be dead-lettered', { timeoutMs: 15_000 })
    const dead = await t.deadLetters.list({ group: 'g' })
    expect(dead).toHaveLength(1)
    expect(dead[0]!.reason.kind).toBe('malformed')
    expect(dead[0]!.reason.error).not.toMatch(/RedrivePolicy/)
    expect(Buffer.from(deadLetterBody(dead[0]!) ?? new Uint8Array()).equals(Buffer.from(body, 'utf8'))).toBe(true)
  })
})
