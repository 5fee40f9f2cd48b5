import { describe, expect, it } from 'vitest'
import {
  ConnectionState,
  reconnectDelay,
  reconnectWithBackoff,
  resolvePublishTimeout,
  withDeadline,
} from '../src/adapter/index.js'
import { ConfigError, TransportError } from '../src/errors.js'

describe('withDeadline', () => {
  it('rejects a hanging call with a retryable TransportError once the deadline passed', async () => {
    const started = Date.now()
    const err = await withDeadline(new Promise<void>(() => {}), 50, 'redis publish').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TransportError)
    expect((err as TransportError).retryable).toBe(true)
    expect((err as Error).message).toMatch(/redis publish did not finish within 50 ms/)
    expect(Date.now() - started).toBeGreaterThanOrEqual(45)
  })

  it('passes through the result or error of a call that settles in time', async () => {
    await expect(withDeadline(Promise.resolve(7), 1_000, 'x')).resolves.toBe(7)
    await expect(withDeadline(Promise.reject(new Error('boom')), 1_000, 'x')).rejects.toThrow('boom')
  })

  it('builds a lazy description only when the deadline passes, and absorbs a late failure of the abandoned work', async () => {
    let built = 0
    const what = () => `publishing ${++built} event(s)`
    await expect(withDeadline(Promise.resolve('ok'), 1_000, what)).resolves.toBe('ok')
    expect(built).toBe(0)
    let fail!: (err: Error) => void
    const late = new Promise<void>((_, reject) => (fail = reject))
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => void unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      await expect(withDeadline(late, 20, what)).rejects.toThrow(/publishing 1 event\(s\) did not finish within 20 ms/)
      fail(new Error('late'))
      // Two macrotask turns: an unhandled rejection is reported after the microtasks of the turn it happened in.
      await new Promise((r) => setImmediate(r))
      await new Promise((r) => setImmediate(r))
      expect(unhandled).toEqual([])
      expect(built).toBe(1)
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })

  it('rejects a publishTimeoutMs that is not a positive integer with a ConfigError naming the tier', () => {
    expect(resolvePublishTimeout(undefined, 'nats')).toBe(5_000)
    expect(() => resolvePublishTimeout(0, 'natsTransport')).toThrow(ConfigError)
    expect(() => resolvePublishTimeout(1.5, 'natsTransport')).toThrow(/natsTransport option publishTimeoutMs/)
  })
})

describe('ConnectionState', () => {
  it('reports each change once, with the error that took it down, and nothing after closed', () => {
    const seen: Array<[string, unknown]> = []
    const state = new ConnectionState({ onConnectionState: (s, e) => void seen.push([s, e]) })
    const lost = new Error('lost')
    state.up()
    state.up()
    state.down(lost)
    state.down(lost)
    state.set('connecting')
    state.up()
    state.closed()
    state.up()
    expect(seen).toEqual([
      ['up', undefined],
      ['down', lost],
      ['connecting', undefined],
      ['up', undefined],
      ['closed', undefined],
    ])
  })

  it('reports a throwing listener to onError instead of throwing into the tier', () => {
    const errors: unknown[] = []
    const state = new ConnectionState({
      onConnectionState: () => {
        throw new Error('bad listener')
      },
      onError: (e) => void errors.push(e),
    })
    expect(() => state.up()).not.toThrow()
    expect(errors).toHaveLength(1)
  })

  it('observe() marks up on success and down only on connection errors', async () => {
    const seen: string[] = []
    const state = new ConnectionState({ onConnectionState: (s) => void seen.push(s) })
    await state.observe(Promise.resolve(1), () => true)
    await state.observe(Promise.reject(new Error('syntax')), () => false).catch(() => {})
    await state.observe(Promise.reject(new Error('refused')), () => true).catch(() => {})
    expect(seen).toEqual(['up', 'down'])
  })
})

describe('reconnectWithBackoff', () => {
  it('grows the delay exponentially up to the cap', () => {
    const noJitter = { initialDelayMs: 100, maxDelayMs: 1_000, jitter: 0 }
    expect([1, 2, 3, 4, 5, 20].map((a) => reconnectDelay(a, noJitter))).toEqual([100, 200, 400, 800, 1_000, 1_000])
    const jittered = reconnectDelay(3, { initialDelayMs: 100, jitter: 0.5 }, () => 0)
    expect(jittered).toBe(200)
  })

  it('keeps trying past any attempt count until connect succeeds', async () => {
    let attempts = 0
    const result = await reconnectWithBackoff(
      async () => {
        if (++attempts < 25) throw new Error('still down')
        return 'connected'
      },
      { backoff: { initialDelayMs: 1, maxDelayMs: 2 } },
    )
    expect(result).toBe('connected')
    expect(attempts).toBe(25)
  })

  it('ends at once, resolving undefined, when the signal aborts during a wait', async () => {
    const abort = new AbortController()
    const started = Date.now()
    const pending = reconnectWithBackoff(() => Promise.reject(new Error('down')), {
      backoff: { initialDelayMs: 60_000, jitter: 0 },
      signal: abort.signal,
      onAttemptFailed: () => abort.abort(),
    })
    await expect(pending).resolves.toBeUndefined()
    expect(Date.now() - started).toBeLessThan(10_000)
  })
})

describe('memory transport connection state', () => {
  it('reports up at creation and closed on close, through the same option as every tier', async () => {
    const { memoryTransport } = await import('../src/memory.js')
    const states: string[] = []
    const transport = memoryTransport({ onConnectionState: (s) => void states.push(s), publishTimeoutMs: 1_000 })
    await transport.close()
    expect(states).toEqual(['up', 'closed'])
    expect(() => memoryTransport({ publishTimeoutMs: -1 })).toThrow(ConfigError)
  })
})
