import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { type Bus, ConfigError, TransportError } from '@tierbus/core'
import { eventually } from '@tierbus/core/testing'
import { resetSharedBus, startConsumers } from '@tierbus/next'
import { redisAdapter } from '@tierbus/redis-streams'
import { afterEach, describe, expect, it } from 'vitest'
import { BrokerProcess, freePort } from '../../../test/outage/broker-process.js'

const fixture = fileURLToPath(new URL('./fixtures/shutdown-app.ts', import.meta.url))

/** Runs the fixture, sends SIGTERM once it is ready, and resolves with its output and exit code. */
function terminate(args: string[]): Promise<{ stdout: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=tierbus-source', '--import', 'tsx', fixture, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.stdout.on('data', (d: Buffer) => {
      stdout += d
      if (stdout.includes('ready') && !child.killed) child.kill('SIGTERM')
    })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`fixture did not exit within 30 s: ${stdout} ${stderr}`))
    }, 30_000)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ stdout: stdout + stderr, code })
    })
  })
}

describe('shared bus shutdown', () => {
  it('closes the shared bus on SIGTERM, then exits with 143', async () => {
    const { stdout, code } = await terminate([])
    expect(stdout).toContain('closed')
    expect(code).toBe(143)
  })

  it('holds back an exit requested by another SIGTERM handler (as next start does) until the bus closed', async () => {
    const { stdout, code } = await terminate(['--like-next'])
    expect(stdout).toContain('closed')
    expect(code).toBe(143)
  })
})

describe('startConsumers', () => {
  const cleanups: Array<() => Promise<unknown>> = []
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!()
  })

  it('does not throw while the tier is down, reports each attempt, and starts the consumers once it is up', async () => {
    const port = await freePort()
    const redis = new BrokerProcess({
      name: `redis-server :${port}`,
      command: 'redis-server',
      args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      ports: [port],
    })
    cleanups.push(() => redis.kill())
    const key = `consumers-${port}`
    cleanups.push(() => resetSharedBus(key))
    const failures: unknown[] = []
    let started: Bus | undefined
    const running = startConsumers(
      async (bus) => {
        started = bus
      },
      {
        key,
        source: 'lifecycle-test',
        env: { TIERBUS_TRANSPORT: 'redis', REDIS_URL: `redis://127.0.0.1:${port}`, TIERBUS_REDIS_PREFIX: key },
        adapters: [redisAdapter],
        onError: () => {},
        initialDelayMs: 50,
        maxDelayMs: 200,
        onStartError: (err) => failures.push(err),
      },
    )
    await eventually(() => failures.length >= 2, 'two failed attempts while Redis is down')
    expect(failures[0]).toBeInstanceOf(TransportError)
    expect(failures.some((f) => f instanceof ConfigError)).toBe(false)
    expect(started).toBeUndefined()
    await redis.start()
    const bus = await running
    expect(started).toBe(bus)
    expect(bus.transport.name).toBe('redis')
  })
})
