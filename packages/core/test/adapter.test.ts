import { ConfigError } from '@tierbus/core'
import { AckCoalescer, envVar, FetchLoop, InFlight, parseEnv, SettleOnce } from '@tierbus/core/adapter'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'

describe('parseEnv', () => {
  const Schema = z.object({
    PORT_MS: envVar.positiveInt(),
    DB_URL: envVar.url(['postgres'], 'postgres://host/db').optional(),
    API_KEY: z.string().min(20, 'the 20+ character key').optional(),
  })

  it('reports every bad variable in one ConfigError format, with the advice', () => {
    let err: unknown
    try {
      parseEnv(Schema, { DB_URL: 'mysql://x' }, 'TIERBUS_TRANSPORT=test', 'See docs/tiers.md')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toBe(
      'TIERBUS_TRANSPORT=test: PORT_MS is not set (expected a positive integer); DB_URL is invalid (expected a postgres:// URL such as postgres://host/db). See docs/tiers.md',
    )
  })

  it('never quotes a value (a key, a password inside a URL)', () => {
    const message = (() => {
      try {
        parseEnv(Schema, { PORT_MS: '1', API_KEY: 'short-secret', DB_URL: 'mysql://user:hunter2@host/db' }, 'ctx')
      } catch (e) {
        return (e as Error).message
      }
      return ''
    })()
    expect(message).toContain('API_KEY is invalid')
    expect(message).not.toContain('short-secret')
    expect(message).not.toContain('hunter2')
  })
})

describe('SettleOnce', () => {
  it('runs the first settle only and frees the slot once; settles and touches after close are no-ops', async () => {
    let freed = 0
    const inFlight = new InFlight(2, () => freed++)
    const calls: string[] = []
    const once = new SettleOnce(inFlight.takeOne())
    await once.settle(() => void calls.push('ack'))
    await once.settle(() => void calls.push('retry'))
    await once.touch(() => void calls.push('touch'))
    expect(calls).toEqual(['ack'])
    expect(freed).toBe(1)
    expect(inFlight.held).toBe(0)
    const closed = new SettleOnce(inFlight.takeOne(), () => true)
    await closed.touch(() => void calls.push('touch after close'))
    await closed.settle(() => void calls.push('ack after close'))
    expect(calls).toEqual(['ack'])
    expect(inFlight.held).toBe(0)
  })
})

describe('AckCoalescer', () => {
  it('sends acks queued during a round trip together, grouped by key, a full group at once, and rejects only failed items', async () => {
    const rounds: Array<Array<[string, number[]]>> = []
    const acks = new AckCoalescer<number>({
      maxGroupSize: 3,
      send: async (groups) => {
        rounds.push(groups.map((g) => [g.key, [...g.items]]))
        await new Promise((r) => setTimeout(r, 5))
        return groups.map((g) =>
          g.key === 'bad' ? { itemErrors: g.items.map((n) => (n === 13 ? new Error('no 13') : undefined)) } : undefined,
        )
      },
    })
    const first = acks.ack('a', 1)
    await new Promise((r) => setImmediate(r))
    const later = [
      acks.ack('a', 2),
      acks.ack('a', 3),
      acks.ack('a', 4),
      acks.ack('a', 5),
      acks.ack('bad', 12),
      acks.ack('bad', 13),
    ]
    // The full group of 'a' went beside the first round trip, not after it.
    expect(rounds).toEqual([[['a', [1]]], [['a', [2, 3, 4]]]])
    await first
    const outcomes = await Promise.allSettled(later)
    await acks.flush()
    expect(rounds).toEqual([
      [['a', [1]]],
      [['a', [2, 3, 4]]],
      [
        ['a', [5]],
        ['bad', [12, 13]],
      ],
    ])
    expect(outcomes.map((o) => o.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'rejected',
    ])
  })

  it('flush() waits for full groups already sent', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const acks = new AckCoalescer<number>({
      maxGroupSize: 2,
      send: async (groups) => {
        await gate
        return groups.map(() => undefined)
      },
    })
    const sent = [acks.ack('a', 1), acks.ack('a', 2)]
    let flushed = false
    const flushing = acks.flush().then(() => (flushed = true))
    await new Promise((r) => setTimeout(r, 5))
    expect(flushed).toBe(false)
    release()
    await flushing
    await Promise.all(sent)
  })
})

describe('FetchLoop', () => {
  it('stops promptly on close while a fetch is pending, handing back what the fetch brought', async () => {
    const handedBack: number[][] = []
    const loop = new FetchLoop<number>({
      maxInFlight: 2,
      fetch: (_room, signal) => new Promise((resolve) => signal.addEventListener('abort', () => resolve([7]))),
      toDeliveries: () => [],
      onBatch: async () => {},
      onError: () => {},
      handBack: async (messages) => void handedBack.push([...messages]),
    })
    loop.start()
    await new Promise((r) => setTimeout(r, 10))
    await loop.close()
    expect(handedBack).toEqual([[7]])
  })
})
