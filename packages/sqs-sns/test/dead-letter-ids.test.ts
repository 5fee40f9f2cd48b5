import { GetQueueUrlCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs'
import { uniqueToken } from '@tierbus/core/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { queueNames, type SqsTransport } from '../src/index.js'
import { type Emulator, emulatorClients, isolatedTransport, startEmulator } from './emulator.js'

let emulator: Emulator
let clients: ReturnType<typeof emulatorClients>
beforeAll(async () => {
  emulator = await startEmulator()
  clients = emulatorClients(emulator.endpoint)
})
afterAll(async () => {
  clients?.sqs.destroy()
  clients?.sns.destroy()
  await emulator?.stop()
})

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

const GROUP = { group: 'mailer', pattern: 'order.*', maxAttempts: 3, leaseMs: 5_000 }

/** A provisioned namespace with one message waiting in its live queue and one dead letter in its DLQ. */
async function namespace(
  prefix: string,
): Promise<{ t: SqsTransport; queue: string; dlq: string; liveId: string; deadId: string }> {
  const t = await isolatedTransport(emulator.endpoint, { prefix })
  cleanups.push(() => t.close())
  await t.provision([GROUP])
  const names = queueNames(prefix, GROUP.group, GROUP.pattern, false)
  const send = async (name: string, body: string) => {
    const QueueUrl = (await clients.sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!
    return (await clients.sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body }))).MessageId!
  }
  return {
    t,
    queue: names.queue,
    dlq: names.dlq,
    liveId: await send(names.queue, 'live work'),
    deadId: await send(names.dlq, 'dead letter'),
  }
}

/** Receives everything in a queue once, reporting each message's body and receive count. */
async function drainQueue(name: string): Promise<Array<{ body: string; receives: number }>> {
  const QueueUrl = (await clients.sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!
  const out = await clients.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
    }),
  )
  return (out.Messages ?? []).map((m) => ({ body: m.Body!, receives: Number(m.Attributes!.ApproximateReceiveCount) }))
}

describe('dead-letter ids', () => {
  it('refuses an id naming the live source queue: nothing is received, moved or deleted', async () => {
    const app = await namespace(uniqueToken('tb'))
    const forged = `${app.queue}/${app.liveId}`
    expect(await app.t.deadLetters.purge([forged])).toBe(0)
    expect(await app.t.deadLetters.redrive([forged])).toBe(0)
    // Still there, never received by the dead-letter store (a receive would count toward the redrive policy).
    expect(await drainQueue(app.queue)).toEqual([{ body: 'live work', receives: 1 }])
    expect(await drainQueue(app.dlq)).toEqual([{ body: 'dead letter', receives: 1 }])
  })

  it("does not touch a sibling namespace's dead letters ('app' vs 'app-staging')", async () => {
    const base = uniqueToken('tb')
    const app = await namespace(base)
    const staging = await namespace(`${base}-staging`)
    const forged = `${staging.dlq}/${staging.deadId}`
    expect(await app.t.deadLetters.redrive([forged])).toBe(0)
    expect(await app.t.deadLetters.purge([forged])).toBe(0)
    expect((await app.t.deadLetters.list()).map((d) => d.id)).toEqual([`${app.dlq}/${app.deadId}`])
    expect((await staging.t.deadLetters.list()).map((d) => d.id)).toEqual([forged])
    // Its own dead letter is still redriven to its own queue.
    expect(await app.t.deadLetters.redrive([`${app.dlq}/${app.deadId}`])).toBe(1)
    expect((await drainQueue(app.queue)).map((m) => m.body).sort()).toEqual(['dead letter', 'live work'])
  })
})
