import { ChangeMessageVisibilityCommand, GetQueueUrlCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs'
import { createBus, defineEvent } from '@tierbus/core'
import { eventually } from '@tierbus/core/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { deferralFor, MAX_DELAY_SECONDS, MAX_VISIBILITY_MS } from '../src/deferral.js'
import { queueNames, type SqsTransport } from '../src/index.js'
import { type Emulator, emulatorClients, isolatedTransport, startEmulator } from './emulator.js'

const Reminder = defineEvent('reminder.due', z.object({ n: z.number() }))

let emulator: Emulator
beforeAll(async () => {
  emulator = await startEmulator()
})
afterAll(() => emulator?.stop())

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

async function transport(): Promise<SqsTransport> {
  const t = await isolatedTransport(emulator.endpoint)
  cleanups.push(() => t.close())
  return t
}

describe('sqs: delayed delivery', () => {
  it('plans a hide on the first early receive and a native re-delay on a later one', () => {
    const now = 1_000_000
    expect(deferralFor(undefined, 1, now)).toBeUndefined()
    expect(deferralFor(now, 1, now)).toBeUndefined()
    expect(deferralFor(now + 1_500, 1, now)).toEqual({ kind: 'hide', seconds: 2 })
    expect(deferralFor(now + 3 * MAX_VISIBILITY_MS, 1, now)).toEqual({
      kind: 'hide',
      seconds: MAX_VISIBILITY_MS / 1_000,
    })
    expect(deferralFor(now + 3 * MAX_VISIBILITY_MS, 2, now)).toEqual({
      kind: 'resend',
      delaySeconds: MAX_DELAY_SECONDS,
    })
    expect(deferralFor(now + 4_200, 3, now)).toEqual({ kind: 'resend', delaySeconds: 5 })
  })

  it('delivers a delayed event when due, with attempt 1, and its retry with attempt 2', async () => {
    const t = await transport()
    const b = createBus({ transport: t, source: 'sqs-delay', closeTransport: false, onError: () => {} })
    cleanups.push(() => b.close({ timeoutMs: 1_000 }))
    const seen: Array<{ at: number; attempt: number }> = []
    await b.subscribe(
      Reminder,
      (e) => {
        seen.push({ at: Date.now(), attempt: e.attempt })
        if (e.attempt === 1) throw new Error('first attempt fails')
      },
      { group: 'g', retry: { attempts: 3, backoff: { baseMs: 10, maxMs: 10 } } },
    )
    const sentAt = Date.now()
    await b.publish(Reminder, { n: 1 }, { delayMs: 1_500 })
    await eventually(() => seen.length >= 2, 'the delayed event, then its retry', { timeoutMs: 15_000 })
    expect(seen[0]!.at - sentAt).toBeGreaterThanOrEqual(1_490)
    expect(seen.map((s) => s.attempt)).toEqual([1, 2])
  })

  it('re-delays with DelaySeconds a message received early a second time, and counts neither receive', async () => {
    const t = await transport()
    const group = 'g2'
    await t.provision([{ group, pattern: Reminder.type }])
    const b = createBus({ transport: t, source: 'sqs-delay', closeTransport: false, onError: () => {} })
    cleanups.push(() => b.close({ timeoutMs: 1_000 }))
    // An early receive the bus never saw (another tool, a crashed consumer): the message comes back early with count 2.
    const publisher = createBus({ transport: t, source: 'sqs-delay', closeTransport: false })
    const sentAt = Date.now()
    await publisher.publish(Reminder, { n: 2 }, { delayMs: 3_000 })
    const { sqs } = emulatorClients(emulator.endpoint)
    cleanups.push(async () => sqs.destroy())
    const url = (
      await sqs.send(new GetQueueUrlCommand({ QueueName: queueNames(t.prefix, group, Reminder.type, false).queue }))
    ).QueueUrl!
    let receipt: string | undefined
    await eventually(async () => {
      const out = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 1, VisibilityTimeout: 30 }),
      )
      receipt = out.Messages?.[0]?.ReceiptHandle
      return receipt !== undefined
    }, 'the raw early receive')
    await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: receipt, VisibilityTimeout: 0 }))
    const seen: Array<{ at: number; attempt: number }> = []
    await b.subscribe(Reminder, (e) => void seen.push({ at: Date.now(), attempt: e.attempt }), { group })
    await eventually(() => seen.length >= 1, 'the re-delayed event', { timeoutMs: 15_000 })
    expect(seen[0]!.at - sentAt).toBeGreaterThanOrEqual(2_990)
    expect(seen[0]!.attempt).toBe(1)
  })
})
