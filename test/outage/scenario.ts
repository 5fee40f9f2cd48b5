import { createBus, defineEvent, type Transport, TransportError } from '@tierbus/core'
import { eventually, quietPeriod, uniqueToken } from '@tierbus/core/testing'
import { afterAll, expect } from 'vitest'
import { z } from 'zod'

/** Extra time a publish may take beyond its deadline on a loaded 2-core machine (timer lag, GC). */
export const DEADLINE_SLACK_MS = 3_000

/** One outage under load: what to publish on, how to break the broker, and for how long. */
export interface OutageScenario {
  /** The transport under test, created with `publishTimeoutMs` (and `onConnectionState` feeding `states`). */
  readonly transport: Transport
  readonly publishTimeoutMs: number
  /** SIGKILLs the broker (or stops the emulator) and resolves once it is gone. */
  kill(): Promise<void>
  /** Starts it again on the same port and data. */
  restart(): Promise<void>
  /** How long the broker stays down: the intentional outage, the only fixed wait. */
  readonly outageMs: number
  /** Connection states the transport reported (the test's `onConnectionState` appends to it). */
  readonly states: readonly string[]
  /** Pause between publishes, ms (default 20: a steady ~50/s when the broker answers). */
  readonly publishIntervalMs?: number
  /** The subscription's lease: unacked events come back after it (default 5,000 ms). */
  readonly leaseMs?: number
  /** How long consumers get to catch up after the restart (default 120 s). */
  readonly catchUpMs?: number
  /**
   * Runs once the consumer group exists, before the load starts (optional): e.g. a graceful broker restart so
   * the broker's metadata of the new queue is on disk, as it is for the long-lived queues of a real app.
   */
  readonly prepare?: () => Promise<void>
}

/** What happened during one outage. */
export interface OutageReport {
  /** Events whose publish resolved. */
  readonly published: number
  /** Events whose publish resolved but that no handler saw (must be empty). */
  readonly lost: readonly number[]
  /** Publishes started or rejected while the broker was down that rejected, and how long each took, ms. */
  readonly rejectedWhileDown: readonly number[]
  /** Every rejection's error (must all be retryable TransportErrors). */
  readonly errors: readonly unknown[]
  /** The longest any publish call took (resolved or rejected), ms. */
  readonly slowestPublishMs: number
  /** Events published after the restart that a handler saw. */
  readonly handledAfterRestart: number
  /** Connection states reported from the kill on. */
  readonly statesAfterKill: readonly string[]
}

/**
 * Runs a steady publisher and a consumer group on `transport`, kills the broker under that load,
 * keeps it down for `outageMs`, restarts it, then waits until the publisher gets through again and
 * every event whose publish resolved was handled. The bus is never recreated: recovery is the
 * transport's job. Closes the bus (not the transport) at the end.
 */
export async function runOutage(s: OutageScenario): Promise<OutageReport> {
  const Tick = defineEvent(`${uniqueToken('o')}.outage.tick`, z.object({ n: z.number().int() }))
  const bus = createBus({ transport: s.transport, source: 'outage-test', closeTransport: false, onError: () => {} })
  const handled = new Set<number>()
  const resolved: number[] = []
  const errors: unknown[] = []
  const rejectedWhileDown: number[] = []
  let slowest = 0
  let down = false
  let restartedAt = Number.POSITIVE_INFINITY
  let stop = false
  try {
    await bus.subscribe(Tick, (e) => void handled.add(e.data.n), {
      group: 'outage',
      concurrency: 8,
      leaseMs: s.leaseMs ?? 5_000,
    })
    await s.prepare?.()
    const publisher = (async () => {
      for (let n = 0; !stop; n++) {
        const started = Date.now()
        const startedDown = down
        try {
          await bus.publish(Tick, { n })
          resolved.push(n)
        } catch (err) {
          errors.push(err)
          if (startedDown || down) rejectedWhileDown.push(Date.now() - started)
        }
        slowest = Math.max(slowest, Date.now() - started)
        await new Promise((resolve) => setTimeout(resolve, s.publishIntervalMs ?? 20))
      }
    })()

    await eventually(
      () => handled.size >= 20,
      () =>
        `the consumer to handle 20 events before the kill (handled ${handled.size}, published ${resolved.length}, errors: ${errors.map(String).slice(-3).join(' | ')})`,
      { timeoutMs: 60_000 },
    )
    const stateMark = s.states.length
    await s.kill()
    down = true
    await quietPeriod(s.outageMs)
    const firstAfterRestart = resolved.length === 0 ? 0 : resolved[resolved.length - 1]! + 1
    down = false
    await s.restart()
    restartedAt = firstAfterRestart
    await eventually(
      () => resolved.filter((n) => n >= restartedAt).length >= 20,
      () => `publishes to succeed again after the restart (last errors: ${errors.map(String).slice(-3).join(' | ')})`,
      {
        timeoutMs: 90_000,
        intervalMs: 100,
      },
    )
    stop = true
    await publisher
    const missing = () => resolved.filter((n) => !handled.has(n))
    await eventually(
      () => missing().length === 0,
      () =>
        `every published event to be handled: ${missing().length} of ${resolved.length} missing, e.g. ${missing().slice(0, 10).join(', ')}`,
      {
        timeoutMs: s.catchUpMs ?? 120_000,
        intervalMs: 100,
      },
    ).catch(() => {})
    return {
      published: resolved.length,
      lost: missing(),
      rejectedWhileDown,
      errors,
      slowestPublishMs: slowest,
      handledAfterRestart: resolved.filter((n) => n >= restartedAt && handled.has(n)).length,
      statesAfterKill: s.states.slice(stateMark),
    }
  } finally {
    stop = true
    await bus.close({ timeoutMs: 5_000 }).catch(() => {})
  }
}

/** The outcome every outage test asserts: nothing lost, consumers resumed, publish bounded and typed while down. */
export function expectRecovered(report: OutageReport, publishTimeoutMs: number): void {
  const summary = JSON.stringify({
    ...report,
    lost: report.lost.slice(0, 20),
    errors: report.errors.map(String).slice(-3),
  })
  expect(report.lost, `events published but never handled: ${summary}`).toEqual([])
  expect(
    report.handledAfterRestart,
    `events published after the restart and handled, without an app restart: ${summary}`,
  ).toBeGreaterThanOrEqual(20)
  expect(report.rejectedWhileDown.length, `publishes rejected while the broker was down: ${summary}`).toBeGreaterThan(0)
  expect(report.slowestPublishMs, `the longest publish call, ms: ${summary}`).toBeLessThanOrEqual(
    publishTimeoutMs + DEADLINE_SLACK_MS,
  )
  for (const err of report.errors) {
    expect(err, String(err)).toBeInstanceOf(TransportError)
    expect((err as TransportError).retryable).toBe(true)
  }
  expect(report.statesAfterKill, 'connection states reported from the kill on').toContain('down')
  expect(report.statesAfterKill.at(-1), 'the last connection state').toBe('up')
}

/**
 * Registers an `afterAll` that runs the returned `track`'s cleanups in reverse order, each even when
 * another failed, so brokers and dirs go away whatever the tests did. Call inside `describe`.
 */
export function cleanupAfterAll(): (cleanup: () => Promise<void>) => void {
  const cleanups: Array<() => Promise<void>> = []
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
  })
  return (cleanup) => void cleanups.push(cleanup)
}
