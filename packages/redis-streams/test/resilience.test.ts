import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { createBus, defineEvent } from '@tierbus/core'
import { eventually } from '@tierbus/core/testing'
import { afterAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { adminClient, isolatedRedisTransport, REDIS_URL, uniquePrefix } from './helpers.js'

const admin = adminClient()
afterAll(() => admin.quit())
const Item = defineEvent('kill.item', z.object({ n: z.number() }))

describe('crash and reconnect', () => {
  it('reclaims the pending entries of a consumer process SIGKILLed mid-batch, losing none', async () => {
    const prefix = uniquePrefix('kill')
    const transport = await isolatedRedisTransport(admin, { prefix })
    const bus = createBus({ transport, source: 'redis-streams/kill-parent' })
    try {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          '--conditions=tierbus-source',
          fileURLToPath(new URL('./fixtures/kill-consumer.ts', import.meta.url)),
        ],
        {
          env: { ...process.env, KILL_PREFIX: prefix, REDIS_URL },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      )
      const handledByChild = new Set<number>()
      const hung = new Set<number>()
      let ready = false
      let stderr = ''
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
      })
      child.stdout.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n')) {
          const [word, n] = line.split(' ')
          if (word === 'ready') ready = true
          if (word === 'handled') handledByChild.add(Number(n))
          if (word === 'hung') hung.add(Number(n))
        }
      })
      await eventually(
        () => ready,
        () => `the child consumer to start (stderr: ${stderr})`,
        { timeoutMs: 30_000 },
      )
      const N = 40
      await bus.publishBatch(
        Item,
        Array.from({ length: N }, (_, n) => ({ n })),
      )
      await eventually(
        () => hung.size === 8,
        () => `the child to hold a full batch of 8 unacked events, holds ${hung.size}`,
        { timeoutMs: 15_000 },
      )
      const [pendingAtKill] = (await admin.xpending(transport.keys.stream('kill.item'), 'workers|kill.item')) as [
        number,
      ]
      expect(pendingAtKill).toBeGreaterThanOrEqual(8)
      child.kill('SIGKILL')
      await new Promise((resolve) => child.once('exit', resolve))

      const attempts = new Map<number, number>()
      await bus.subscribe(Item, (e) => void attempts.set(e.data.n, e.attempt), {
        group: 'workers',
        leaseMs: 1_000,
        concurrency: 8,
      })
      const missing = () =>
        Array.from({ length: N }, (_, n) => n).filter((n) => !handledByChild.has(n) && !attempts.has(n))
      await eventually(
        () => missing().length === 0,
        () => `every event handled by one consumer or the other; missing ${missing()}`,
        { timeoutMs: 15_000 },
      )
      for (const n of hung) expect(attempts.get(n)).toBeGreaterThanOrEqual(2)
      await eventually(
        async () =>
          ((await admin.xpending(transport.keys.stream('kill.item'), 'workers|kill.item')) as [number])[0] === 0,
        'nothing left pending',
      )
    } finally {
      await bus.close()
    }
  }, 60_000)

  it('loses nothing when its connections are killed (CLIENT KILL) mid-run', async () => {
    const connectionName = `tbreconnect-${randomBytes(4).toString('hex')}`
    const transport = await isolatedRedisTransport(admin, { connectionName })
    const bus = createBus({ transport, source: 'redis-streams/reconnect', onError: () => {} })
    try {
      const handled = new Set<number>()
      await bus.subscribe(Item, (e) => void handled.add(e.data.n), { group: 'steady', leaseMs: 1_000, concurrency: 8 })
      const ourConnections = async () => {
        const list = (await admin.call('client', 'list')) as string
        return list
          .split('\n')
          .filter((line) => line.includes(`name=${connectionName}`))
          .map((line) => /\bid=(\d+)/.exec(line)![1]!)
      }
      const killOurConnections = async () => {
        // Both the command connection and the subscription's blocking reader (back after the previous kill).
        await eventually(async () => (await ourConnections()).length === 2, 'both connections to be up')
        const ids = await ourConnections()
        for (const id of ids) await admin.call('client', 'kill', 'id', id)
        return ids.length
      }
      const N = 300
      let killed = 0
      for (let n = 0; n < N; n++) {
        if (n === 100 || n === 200) killed += await killOurConnections()
        // A publish in flight when its connection dies may fail: the app retries it (at-least-once).
        for (let tries = 0; ; tries++) {
          try {
            await bus.publish(Item, { n })
            break
          } catch (err) {
            if (tries >= 20) throw err
            await new Promise((resolve) => setTimeout(resolve, 50))
          }
        }
      }
      expect(killed).toBe(4)
      await eventually(
        () => handled.size === N,
        () => `all ${N} events handled, got ${handled.size}`,
        { timeoutMs: 20_000 },
      )
      await eventually(
        async () =>
          ((await admin.xpending(transport.keys.stream('kill.item'), 'steady|kill.item')) as [number])[0] === 0,
        'every entry acked',
      )
    } finally {
      await bus.close()
    }
  }, 60_000)
})
