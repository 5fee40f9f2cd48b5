import {
  GetSubscriptionAttributesCommand,
  ListSubscriptionsByTopicCommand,
  PublishBatchCommand,
} from '@aws-sdk/client-sns'
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs'
import { ConfigError, createBus, defineEvent, TransportError } from '@tierbus/core'
import { eventually, quietPeriod, uniqueToken } from '@tierbus/core/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { queueNames, type SqsTransport, sqsTransport, transportFromEnv } from '../src/index.js'
import { EMULATOR_AWS, type Emulator, emulatorClients, isolatedTransport, startEmulator } from './emulator.js'
import { countRequests } from './requests.js'

const Item = z.object({ n: z.number().int() })

let emulator: Emulator
beforeAll(async () => {
  emulator = await startEmulator()
})
afterAll(() => emulator?.stop())

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

async function transport(options: Parameters<typeof isolatedTransport>[1] = {}): Promise<SqsTransport> {
  const t = await isolatedTransport(emulator.endpoint, options)
  cleanups.push(() => t.close())
  return t
}

function bus(t: SqsTransport) {
  const b = createBus({
    transport: t,
    source: 'sqs-test',
    closeTransport: false,
    retry: { backoff: { baseMs: 10, maxMs: 20 } },
    onError: () => {},
  })
  cleanups.push(() => b.close({ timeoutMs: 1_000 }))
  return b
}

describe('provision()', () => {
  it('creates the topic, queue, DLQ, redrive policy, queue policy and filtered raw subscription, idempotently', async () => {
    const t = await transport()
    const { sqs, sns } = emulatorClients(emulator.endpoint)
    cleanups.push(async () => {
      sqs.destroy()
      sns.destroy()
    })
    const declaration = { group: 'sentiment', pattern: 'feedback.*', maxAttempts: 4, leaseMs: 2_500 }
    await t.provision([declaration])
    await t.provision([declaration])
    const names = queueNames(t.prefix, 'sentiment', 'feedback.*', false)
    const url = (await sqs.send(new GetQueueUrlCommand({ QueueName: names.queue }))).QueueUrl!
    const dlqUrl = (await sqs.send(new GetQueueUrlCommand({ QueueName: names.dlq }))).QueueUrl!
    const attrs = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] })))
      .Attributes!
    const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] })))
      .Attributes!.QueueArn
    expect(JSON.parse(attrs.RedrivePolicy!)).toEqual({ deadLetterTargetArn: dlqArn, maxReceiveCount: 6 })
    expect(attrs.VisibilityTimeout).toBe('3')
    const topicArn = await t.topicArn()
    expect(JSON.parse(attrs.Policy!).Statement[0]).toMatchObject({
      Action: 'sqs:SendMessage',
      Resource: attrs.QueueArn,
      Condition: { ArnEquals: { 'aws:SourceArn': topicArn } },
    })
    const subs = (await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn }))).Subscriptions!
    expect(subs).toHaveLength(1)
    const sub = (await sns.send(new GetSubscriptionAttributesCommand({ SubscriptionArn: subs[0]!.SubscriptionArn! })))
      .Attributes!
    expect(sub.RawMessageDelivery).toBe('true')
    expect(JSON.parse(sub.FilterPolicy!)).toEqual({ type: [{ prefix: 'feedback.' }] })
    // Re-provisioning with another retry policy converges the existing queue instead of failing.
    await t.provision([{ ...declaration, maxAttempts: 9 }])
    const again = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['RedrivePolicy'] })))
      .Attributes!
    expect(JSON.parse(again.RedrivePolicy!).maxReceiveCount).toBe(11)
  })

  it('with provision: false, fails with a TransportError that says how to create what is missing', async () => {
    const t = await transport({ provision: false })
    const E = defineEvent(`${uniqueToken('e')}.x`, Item)
    const err = await t
      .publish([{ specversion: '1.0', id: 'x', source: 's', type: E.type, time: new Date().toISOString(), data: {} }])
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TransportError)
    expect((err as Error).message).toMatch(/does not exist.*describeInfrastructure\(\).*provision: true/)
    await (await sqsTransport({ ...EMULATOR_AWS, endpoint: emulator.endpoint, prefix: t.prefix })).provision()
    const subErr = await bus(t)
      .subscribe(E, () => {}, { group: 'g' })
      .catch((e: unknown) => e)
    expect(subErr).toBeInstanceOf(TransportError)
    expect((subErr as Error).message).toMatch(/SQS queue .* does not exist/)
  })
})

describe('routing', () => {
  it('acks silently an event that passes the wildcard prefix filter but not the pattern', async () => {
    const t = await transport()
    const b = bus(t)
    const p = uniqueToken('r')
    const got: string[] = []
    await b.subscribe(`${p}.agent.*.heartbeat`, (e) => void got.push(e.type), { group: 'monitor' })
    await b.publish(defineEvent(`${p}.agent.a1.status`, Item), { n: 1 })
    await b.publish(defineEvent(`${p}.agent.a1.heartbeat`, Item), { n: 2 })
    await eventually(() => got.length === 1, 'the matching event')
    expect(got).toEqual([`${p}.agent.a1.heartbeat`])
    const { sqs } = emulatorClients(emulator.endpoint)
    cleanups.push(async () => sqs.destroy())
    const url = (
      await sqs.send(
        new GetQueueUrlCommand({ QueueName: queueNames(t.prefix, 'monitor', `${p}.agent.*.heartbeat`, false).queue }),
      )
    ).QueueUrl!
    await eventually(async () => {
      const a = (
        await sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: url,
            AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
          }),
        )
      ).Attributes!
      return a.ApproximateNumberOfMessages === '0' && a.ApproximateNumberOfMessagesNotVisible === '0'
    }, 'the non-matching event to be deleted from the queue')
  })
})

/** A bus on clients whose calls are counted, a fresh event type, and the set of `n` its subscribers saw. */
async function countedBus(tag: string) {
  const { sqs, sns } = emulatorClients(emulator.endpoint)
  const counter = countRequests(sqs, sns)
  const b = bus(await transport({ client: { sqs, sns } }))
  return { counter, b, E: defineEvent(`${uniqueToken(tag)}.item`, Item), seen: new Set<number>() }
}

describe('batching', () => {
  it('publishes, receives and acks 100 events in about 10 calls each', async () => {
    const { counter, b, E, seen } = await countedBus('b')
    await b.subscribe(E, (e) => void seen.add(e.data.n), { group: 'batch', concurrency: 20 })
    counter.reset()
    await b.publishBatch(
      E,
      Array.from({ length: 100 }, (_, n) => ({ n })),
    )
    expect(counter.of('PublishBatchCommand')).toBe(10)
    await eventually(
      () => seen.size === 100,
      () => `100 events, got ${seen.size}`,
    )
    await eventually(() => counter.of('DeleteMessageBatchCommand') >= 10, 'the acks to be sent')
    await quietPeriod(100)
    expect(counter.of('DeleteMessageBatchCommand')).toBeLessThanOrEqual(20)
    expect(counter.of('ReceiveMessageCommand')).toBeLessThanOrEqual(25)
  })
})

describe('SDK middleware', () => {
  /** Counts `resolveMiddleware` calls per command class (what `client.send` does for every command) while `run` runs. */
  async function countResolves(classes: Array<{ name: string; prototype: object }>, run: () => Promise<void>) {
    const counts = new Map<string, number>()
    const originals = classes.map((c) => {
      const proto = c.prototype as { resolveMiddleware: (...args: unknown[]) => unknown }
      const original = proto.resolveMiddleware
      proto.resolveMiddleware = function (this: unknown, ...args: unknown[]) {
        counts.set(c.name, (counts.get(c.name) ?? 0) + 1)
        return original.apply(this, args)
      }
      return () => {
        proto.resolveMiddleware = original
      }
    })
    try {
      await run()
    } finally {
      for (const restore of originals) restore()
    }
    return counts
  }

  it('resolves the client middleware once per poller for receives, and once per transport for deletes and publishes', async () => {
    const { counter, b, E, seen } = await countedBus('m')
    const resolves = await countResolves(
      [ReceiveMessageCommand, DeleteMessageBatchCommand, PublishBatchCommand],
      async () => {
        await b.subscribe(E, (e) => void seen.add(e.data.n), { group: 'mw', concurrency: 10 })
        for (let i = 0; i < 5; i++)
          await b.publishBatch(
            E,
            Array.from({ length: 20 }, (_, k) => ({ n: i * 20 + k })),
          )
        await eventually(
          () => seen.size === 100,
          () => `100 events, got ${seen.size}`,
        )
        await eventually(() => counter.of('DeleteMessageBatchCommand') >= 10, 'the acks to be sent')
      },
    )
    // The counting middleware was added to the clients before the transport: it still sees every call.
    expect(counter.of('PublishBatchCommand')).toBe(10)
    expect(counter.of('ReceiveMessageCommand')).toBeGreaterThanOrEqual(10)
    expect(resolves.get('ReceiveMessageCommand')).toBe(1)
    expect(resolves.get('DeleteMessageBatchCommand')).toBe(1)
    expect(resolves.get('PublishBatchCommand')).toBe(1)
  })

  it('sends through a client.send that was replaced (a stub or a tracing wrapper), so it sees every call', async () => {
    const { sqs, sns } = emulatorClients(emulator.endpoint)
    const sent: string[] = []
    for (const client of [sqs, sns] as Array<{ send: (command: object, options?: unknown) => Promise<unknown> }>) {
      const original = client.send.bind(client)
      client.send = (command, options) => {
        sent.push(command.constructor.name)
        return original(command, options)
      }
    }
    const t = await transport({ client: { sqs, sns } })
    const b = bus(t)
    const E = defineEvent(`${uniqueToken('w')}.item`, Item)
    const seen = new Set<number>()
    await b.subscribe(E, (e) => void seen.add(e.data.n), { group: 'wrapped' })
    await b.publishBatch(
      E,
      Array.from({ length: 20 }, (_, n) => ({ n })),
    )
    await eventually(
      () => seen.size === 20,
      () => `20 events, got ${seen.size}`,
    )
    await eventually(() => sent.includes('DeleteMessageBatchCommand'), 'the acks to go through the wrapper')
    expect(sent).toContain('PublishBatchCommand')
    expect(sent).toContain('ReceiveMessageCommand')
  })
})

describe('closing', () => {
  it('ends a pending 20 s long poll at once: close() returns in well under the poll', async () => {
    const { sqs, sns } = emulatorClients(emulator.endpoint)
    const counter = countRequests(sqs, sns)
    const t = await transport({ client: { sqs, sns }, waitTimeSeconds: 20 })
    const b = bus(t)
    const E = defineEvent(`${uniqueToken('c')}.item`, Item)
    await b.subscribe(E, () => {}, { group: 'closing' })
    // The queue is empty: the first receive waits the whole 20 s unless aborted.
    await eventually(() => counter.of('ReceiveMessageCommand') >= 1, 'the long poll to start')
    await quietPeriod(200)
    const started = Date.now()
    await b.close({ timeoutMs: 1_000 })
    await t.close()
    expect(Date.now() - started).toBeLessThan(3_000)
    expect(counter.of('ReceiveMessageCommand')).toBe(1)
  })
})

describe('publish coalescing', () => {
  it('sends concurrent single publishes in shared PublishBatch calls, each resolving when its event is accepted', async () => {
    const { sqs, sns } = emulatorClients(emulator.endpoint)
    const counter = countRequests(sqs, sns)
    const t = await transport({ client: { sqs, sns } })
    const b = bus(t)
    const E = defineEvent(`${uniqueToken('c')}.item`, Item)
    const seen = new Set<number>()
    await b.subscribe(E, (e) => void seen.add(e.data.n), { group: 'coalesce', concurrency: 16 })
    counter.reset()
    await Promise.all(Array.from({ length: 25 }, (_, n) => b.publish(E, { n })))
    expect(counter.of('PublishBatchCommand')).toBe(3)
    await eventually(
      () => seen.size === 25,
      () => `25 events, got ${seen.size}`,
    )
  })

  it('rejects only the call with the oversized event, before anything is sent', async () => {
    const { sqs, sns } = emulatorClients(emulator.endpoint)
    const counter = countRequests(sqs, sns)
    const t = await transport({ client: { sqs, sns } })
    const b = bus(t)
    const Big = defineEvent(`${uniqueToken('o')}.big`, z.object({ pad: z.string() }))
    await t.topicArn()
    counter.reset()
    const [ok, tooBig] = await Promise.allSettled([
      b.publish(Big, { pad: 'small' }),
      b.publish(Big, { pad: 'x'.repeat(300_000) }),
    ])
    expect(ok.status).toBe('fulfilled')
    expect(tooBig.status).toBe('rejected')
    expect(((tooBig as PromiseRejectedResult).reason as Error).name).toBe('ValidationError')
    expect(((tooBig as PromiseRejectedResult).reason as Error).message).toMatch(/is 300\d{3} bytes encoded.*262144/)
    expect(counter.of('PublishBatchCommand')).toBe(1)
  })
})

describe('visibility heartbeat', () => {
  it('keeps a handler that runs past its lease from being redelivered (touch extends visibility)', async () => {
    const t = await transport()
    const b = bus(t)
    const E = defineEvent(`${uniqueToken('h')}.slow`, Item)
    const attempts: number[] = []
    let done = false
    await b.subscribe(
      E,
      async (e) => {
        attempts.push(e.attempt)
        await new Promise((r) => setTimeout(r, 2_600))
        done = true
      },
      { group: 'slow', leaseMs: 1_000, concurrency: 2 },
    )
    await b.publish(E, { n: 1 })
    await eventually(() => done, 'the slow handler to finish', { timeoutMs: 10_000 })
    await quietPeriod(1_500)
    expect(attempts).toEqual([1])
  })
})

describe('ordered subscriptions', () => {
  it('refuses ordered: true on a standard transport, pointing at fifo: true', async () => {
    const bus = createBus({
      transport: await sqsTransport({ ...EMULATOR_AWS, endpoint: emulator.endpoint }),
      source: 'sqs-test',
      onError: () => {},
    })
    const err = await bus
      .subscribe(defineEvent(`${uniqueToken('o')}.item`, Item), () => {}, { ordered: true })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toMatch(/sqsTransport\(\{ fifo: true \}\)/)
    await bus.close()
  })
})

describe('transportFromEnv', () => {
  it('names AWS_REGION when it is missing, and the bad variable when one is invalid', async () => {
    await expect(transportFromEnv('sqs', {})).rejects.toThrow(/AWS_REGION is not set/)
    await expect(transportFromEnv('sqs', {})).rejects.toBeInstanceOf(ConfigError)
    // Named, never echoed: an env value may hold a secret.
    await expect(transportFromEnv('sqs', { AWS_REGION: 'us-east-1', TIERBUS_SQS_FIFO: 'yes' })).rejects.toThrow(
      /TIERBUS_SQS_FIFO is invalid/,
    )
    await expect(
      transportFromEnv('sqs', { AWS_REGION: 'us-east-1', TIERBUS_SQS_FIFO: 's3cret-value' }),
    ).rejects.not.toThrow(/s3cret-value/)
    await expect(transportFromEnv('sqs', { AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: 'not a url' })).rejects.toThrow(
      /AWS_ENDPOINT_URL/,
    )
  })

  it('fails at startup when TIERBUS_SQS_PROVISION=false and the topic does not exist', async () => {
    const env = {
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL: emulator.endpoint,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      TIERBUS_SQS_PREFIX: uniqueToken('env'),
      TIERBUS_SQS_PROVISION: 'false',
    }
    await expect(transportFromEnv('sqs', env)).rejects.toThrow(/SNS topic .* does not exist/)
  })

  it('builds a working FIFO transport from env vars against the emulator', async () => {
    const prefix = uniqueToken('env')
    const t = (await transportFromEnv('sqs', {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_ENDPOINT_URL_SQS: emulator.endpoint,
      AWS_ENDPOINT_URL_SNS: emulator.endpoint,
      TIERBUS_SQS_PREFIX: prefix,
      TIERBUS_SQS_FIFO: 'true',
      TIERBUS_SQS_PROVISION: 'true',
    })) as SqsTransport
    cleanups.push(async () => {
      await t.deleteNamespace()
      await t.close()
    })
    expect(t.capabilities.ordering).toBe('per-key')
    expect(await t.topicArn()).toMatch(new RegExp(`${prefix}-events\\.fifo$`))
    const b = bus(t)
    const E = defineEvent(`${prefix}.ping`, Item)
    const got: number[] = []
    await b.subscribe(E, (e) => void got.push(e.data.n), { group: 'env', ordered: true })
    await b.publishBatch(E, [{ n: 1 }, { n: 2 }, { n: 3 }], { key: 'k' })
    await eventually(() => got.length === 3, 'three events')
    expect(got).toEqual([1, 2, 3])
  })
})
