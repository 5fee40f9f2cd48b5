import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createBus, defineEvent } from '@tierbus/core'
import { eventually, uniqueToken } from '@tierbus/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { DATABASE_URL, freshPostgresTransport } from './helpers.js'

const script = fileURLToPath(new URL('./fixtures/hanging-consumer.ts', import.meta.url))
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url))

describe('consumer killed mid-batch (SIGKILL)', () => {
  const cleanups: Array<() => unknown> = []
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!()
  })

  it('redelivers its claimed events after the lease to another consumer, none lost', async () => {
    const transport = await freshPostgresTransport()
    cleanups.push(() => transport.close())
    const type = `${uniqueToken('kill')}.job`
    const E = defineEvent(type, z.object({ n: z.number() }))
    const leaseMs = 1_500

    // One process: `node --import tsx`, so SIGKILL hits the consumer itself (npx/tsx would kill a wrapper).
    const child = spawn(process.execPath, ['--conditions=tierbus-source', '--import', 'tsx', script], {
      cwd: repoRoot,
      env: {
        ...process.env,
        DATABASE_URL,
        TIERBUS_DB_SCHEMA: transport.schema,
        KILL_TEST_TYPE: type,
        KILL_TEST_LEASE_MS: String(leaseMs),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    cleanups.push(() => void child.kill('SIGKILL'))
    const grabbed = new Set<number>()
    let ready = false
    let stderr = ''
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
    child.stdout.on('data', (b: Buffer) => {
      for (const line of b.toString().split('\n')) {
        if (line === 'ready') ready = true
        const m = /^got (\d+)$/.exec(line)
        if (m) grabbed.add(Number(m[1]))
      }
    })
    await eventually(
      () => ready,
      () => `the child consumer to start (stderr: ${stderr})`,
      { timeoutMs: 20_000 },
    )

    const bus = createBus({ transport, source: 'kill-test', closeTransport: false })
    cleanups.push(() => bus.close())
    const total = 40
    const publishedAt = Date.now()
    await bus.publishBatch(
      E,
      Array.from({ length: total }, (_, n) => ({ n })),
    )
    await eventually(
      () => grabbed.size === 10,
      () => `the child to hold a full batch of 10, has ${grabbed.size}`,
    )
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    expect(await exited).toBe(null)

    const handled = new Map<number, number>()
    const redeliveredAt: number[] = []
    await bus.subscribe(
      E,
      (e) => {
        if (grabbed.has(e.data.n)) redeliveredAt.push(Date.now())
        handled.set(e.data.n, e.attempt)
      },
      { group: 'workers', concurrency: 8, leaseMs },
    )
    await eventually(
      () => handled.size === total,
      () => `all ${total} events handled, got ${handled.size}`,
      { timeoutMs: 15_000 },
    )
    // Every event is handled; the ones the dead consumer held come back as a second attempt, after its lease.
    expect([...handled.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, n) => n))
    for (const n of grabbed) expect(handled.get(n)).toBe(2)
    for (const [n, attempt] of handled) if (!grabbed.has(n)) expect(attempt).toBe(1)
    // ... and not before the lease they were claimed with (after the publish) ran out.
    expect(Math.min(...redeliveredAt)).toBeGreaterThanOrEqual(publishedAt + leaseMs - 50)
  }, 60_000)
})
