import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createBus, defineEvent } from '@tierbus/core'
import { eventually, uniqueToken } from '@tierbus/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import type { NatsTransport } from '../src/index.js'
import { isolatedTransport, NATS_URL } from './helpers.js'

const FIXTURE = fileURLToPath(new URL('./fixtures/doomed-consumer.ts', import.meta.url))

describe('NATS consumer killed mid-batch', () => {
  let child: ChildProcess | undefined
  let transport: NatsTransport | undefined
  afterEach(async () => {
    try {
      if (child?.pid && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL')
    } finally {
      await transport?.close()
    }
  })

  it('redelivers what the SIGKILLed process held after ack_wait, none lost', async () => {
    transport = await isolatedTransport()
    const type = `${uniqueToken('k')}.work.item`
    const E = defineEvent(type, z.object({ n: z.number() }))
    const lines: string[] = []
    child = spawn(process.execPath, ['--conditions=tierbus-source', '--import', 'tsx', FIXTURE], {
      env: {
        ...process.env,
        NATS_URL,
        PREFIX: transport.subjects.prefix,
        STREAM: transport.streams[0]!,
        TYPE: type,
        GROUP: 'killable',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => lines.push(...chunk.split('\n').filter(Boolean)))
    await eventually(() => lines.includes('ready'), 'the child consumer to subscribe', { timeoutMs: 20_000 })

    const bus = createBus({ transport, source: 'kill-test', closeTransport: false })
    await bus.publishBatch(
      E,
      Array.from({ length: 30 }, (_, n) => ({ n })),
    )
    // The child holds a full batch (concurrency 10), unacked, when it dies.
    await eventually(() => lines.filter((l) => l.startsWith('got ')).length === 10, 'the child to take a batch of 10')
    const held = lines.filter((l) => l.startsWith('got ')).map((l) => Number(l.slice(4)))
    process.kill(child.pid!, 'SIGKILL')
    await eventually(() => child!.exitCode !== null || child!.signalCode !== null, 'the child to die')

    const recovered = new Map<number, number>()
    await bus.subscribe(E, (e) => void recovered.set(e.data.n, e.attempt), {
      group: 'killable',
      leaseMs: 1_000,
      concurrency: 10,
    })
    await eventually(
      () => recovered.size === 30,
      () => `all 30 events, got ${recovered.size}`,
    )
    for (const n of held) expect(recovered.get(n)).toBeGreaterThanOrEqual(2)
    expect([...recovered.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, n) => n))
    await bus.close()
  })
})
