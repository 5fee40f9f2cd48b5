import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { GetQueueUrlCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs'
import { createBus, defineEvent } from '@tierbus/core'
import { eventually, quietPeriod, uniqueToken } from '@tierbus/core/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { DEAD_LETTER_ATTRIBUTES, queueNames, type SqsTransport } from '../src/index.js'
import { type Emulator, emulatorClients, isolatedTransport, startEmulator } from './emulator.js'

const Item = z.object({ n: z.number().int() })
const CHILD = fileURLToPath(new URL('./fixtures/hanging-consumer.ts', import.meta.url))

let emulator: Emulator
beforeAll(async () => {
  emulator = await startEmulator()
})
afterAll(() => emulator?.stop())

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

async function transport(): Promise<SqsTransport> {
  const t = await isolatedTransport(emulator.endpoint)
  cleanups.push(() => t.close())
  return t
}

function bus(t: SqsTransport) {
  const b = createBus({
    transport: t,
    source: 'crash-test',
    closeTransport: false,
    retry: { attempts: 2, backoff: { baseMs: 10, maxMs: 20 } },
    onError: () => {},
  })
  cleanups.push(() => b.close({ timeoutMs: 1_000 }))
  return b
}

/** Starts the hanging consumer in its own process; resolves with the event numbers it reports taking. */
function startChild(env: Record<string, string>): { child: ChildProcess; taken: Set<number>; ready: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=tierbus-source', CHILD], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  cleanups.push(() => void child.kill('SIGKILL'))
  const taken = new Set<number>()
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += String(d)))
  const ready = new Promise<void>((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`child exited early (${code}): ${stderr}`)))
    let buffer = ''
    child.stdout!.on('data', (chunk) => {
      buffer += String(chunk)
      const lines = buffer.split('\n')
      buffer = lines.pop()!
      for (const line of lines) {
        if (line === 'ready') resolve()
        else if (line.startsWith('got ')) taken.add(Number(line.slice(4)))
      }
    })
  })
  ready.catch(() => {})
  return { child, taken, ready }
}

/** Rejects with `what` when `promise` takes longer than `ms` (a child process on a busy machine can start slowly). */
function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)),
  )
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

describe('crash recovery on SQS', () => {
  it('redelivers every event after the visibility timeout when a consumer process is SIGKILLed mid-batch, none lost', async () => {
    const t = await transport()
    const b = bus(t)
    const E = defineEvent(`${uniqueToken('k')}.job`, Item)
    const { child, taken, ready } = startChild({
      ENDPOINT: emulator.endpoint,
      PREFIX: t.prefix,
      TYPE: E.type,
      GROUP: 'workers',
      LEASE_MS: '1000',
    })
    await withDeadline(ready, 30_000, 'the child consumer to start')
    await b.publishBatch(
      E,
      Array.from({ length: 30 }, (_, n) => ({ n })),
    )
    await eventually(
      () => taken.size >= 10,
      () => `the child to take a batch, took ${taken.size}`,
      { timeoutMs: 15_000 },
    )
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
    const recovered = new Map<number, number>()
    await b.subscribe(E, (e) => void recovered.set(e.data.n, e.attempt), {
      group: 'workers',
      leaseMs: 1_000,
      concurrency: 10,
    })
    await eventually(
      () => recovered.size === 30,
      () => `all 30 events, got ${recovered.size}`,
      { timeoutMs: 15_000 },
    )
    expect(taken.size).toBeGreaterThanOrEqual(10)
    for (const n of taken) expect(recovered.get(n), `event ${n} taken by the killed child`).toBeGreaterThanOrEqual(2)
  }, 90_000)

  it('dead-letters poison events (the handler always throws) with the reason recorded on the DLQ message', async () => {
    const t = await transport()
    const b = bus(t)
    const E = defineEvent(`${uniqueToken('p')}.poison`, Item)
    const attempts = new Map<number, number[]>()
    await b.subscribe(
      E,
      (e) => {
        attempts.set(e.data.n, [...(attempts.get(e.data.n) ?? []), e.attempt])
        throw new Error(`cannot process ${e.data.n}`)
      },
      { group: 'poisoned' },
    )
    const sent = await b.publishBatch(E, [{ n: 1 }, { n: 2 }, { n: 3 }])
    let dead: Awaited<ReturnType<typeof t.deadLetters.list>> = []
    await eventually(
      async () => {
        dead = await t.deadLetters.list({ group: 'poisoned' })
        return dead.length === 3
      },
      'three dead letters',
      { timeoutMs: 15_000, intervalMs: 100 },
    )
    expect(new Set(dead.map((d) => d.envelope?.id))).toEqual(new Set(sent.map((e) => e.id)))
    for (const d of dead) {
      expect(d.reason).toMatchObject({ kind: 'handler-failed', attempts: 2 })
      expect(d.reason.error).toContain(`cannot process ${(d.envelope!.data as { n: number }).n}`)
    }
    for (const list of attempts.values()) expect(list).toEqual([1, 2])
    // The reason travels as message attributes on the DLQ message itself, readable by any SQS tool.
    const { sqs } = emulatorClients(emulator.endpoint)
    cleanups.push(() => sqs.destroy())
    const dlqUrl = (
      await sqs.send(new GetQueueUrlCommand({ QueueName: queueNames(t.prefix, 'poisoned', E.type, false).dlq }))
    ).QueueUrl!
    const raw = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: dlqUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 0,
        MessageAttributeNames: ['All'],
      }),
    )
    const attrs = raw.Messages![0]!.MessageAttributes!
    expect(attrs[DEAD_LETTER_ATTRIBUTES.kind]?.StringValue).toBe('handler-failed')
    expect(attrs[DEAD_LETTER_ATTRIBUTES.attempts]?.StringValue).toBe('2')
    expect(attrs[DEAD_LETTER_ATTRIBUTES.group]?.StringValue).toBe('poisoned')
    expect(attrs[DEAD_LETTER_ATTRIBUTES.error]?.StringValue).toMatch(/cannot process/)
    expect(attrs.type?.StringValue).toBe(E.type)
  })

  it("moves an event whose consumers keep crashing to the DLQ through SQS's own redrive, reported with that reason", async () => {
    const t = await transport()
    const E = defineEvent(`${uniqueToken('n')}.crashy`, Item)
    // maxAttempts 1 + margin 2: SQS moves the message after 3 receives that never settle.
    await t.provision([{ group: 'crashy', pattern: E.type, maxAttempts: 1, leaseMs: 1_000 }])
    await bus(t).publish(E, { n: 9 })
    const { sqs } = emulatorClients(emulator.endpoint)
    cleanups.push(() => sqs.destroy())
    const url = (
      await sqs.send(new GetQueueUrlCommand({ QueueName: queueNames(t.prefix, 'crashy', E.type, false).queue }))
    ).QueueUrl!
    // Each receive without a delete is a consumer that died holding the message (visibility 0: it is back at once).
    const receiveCounts: string[] = []
    for (let i = 0; i < 4; i++) {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          WaitTimeSeconds: 1,
          VisibilityTimeout: 0,
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        }),
      )
      for (const m of out.Messages ?? []) receiveCounts.push(m.Attributes!.ApproximateReceiveCount!)
    }
    expect(receiveCounts).toEqual(['1', '2', '3'])
    let dead: Awaited<ReturnType<typeof t.deadLetters.list>> = []
    await eventually(
      async () => {
        dead = await t.deadLetters.list({ group: 'crashy' })
        return dead.length === 1
      },
      'the natively redriven dead letter',
      { timeoutMs: 10_000, intervalMs: 100 },
    )
    expect(dead[0]!.reason).toMatchObject({ kind: 'handler-failed', attempts: 3 })
    expect(dead[0]!.reason.error).toMatch(/RedrivePolicy after 3 receives/)
    expect(dead[0]!.envelope?.data).toEqual({ n: 9 })
    // And it can be redriven to the group like any other dead letter.
    expect(await t.deadLetters.redrive([dead[0]!.id])).toBe(1)
    const got: number[] = []
    await bus(t).subscribe(E, (e) => void got.push(e.attempt), {
      group: 'crashy',
      leaseMs: 1_000,
      retry: { attempts: 1 },
    })
    await eventually(() => got.length === 1, 'the redriven event')
    await quietPeriod(200)
    expect(got).toEqual([1])
  })
})
