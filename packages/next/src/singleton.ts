import { type Bus, type BusFromEnvOptions, createBusFromEnv } from '@tierbus/core'
import { closeOnShutdown } from './shutdown.js'

const shared = globalThis as { __tierbus?: Map<string, unknown> }
shared.__tierbus ??= new Map()
const registry: Map<string, unknown> = shared.__tierbus

/**
 * One value per key for the whole process, kept on `globalThis` so Next.js hot reload (which re-runs
 * modules) does not open a new connection per edit or per request.
 */
export function singleton<T>(key: string, create: () => T): T {
  if (!registry.has(key)) registry.set(key, create())
  return registry.get(key) as T
}

/** Options of `sharedBus`. */
export interface SharedBusOptions extends BusFromEnvOptions {
  /** Which shared bus (default `bus`); one app rarely needs two. */
  key?: string
  /**
   * Close the bus when the process gets SIGTERM or SIGINT (default true), bounded by `closeTimeoutMs`, so
   * in-flight handlers finish and buffered acks reach the tier before `next start` exits.
   */
  closeOnSignal?: boolean
}

/**
 * The app's bus from `createBusFromEnv`, created once per process and closed on SIGTERM/SIGINT. A failed
 * creation (a tier that is down at boot) is not cached: the next call tries again, so route handlers
 * answer 503 while the tier is down and work again once it is back.
 */
export function sharedBus(options: SharedBusOptions = {}): Promise<Bus> {
  const { key = 'bus', closeOnSignal = true, ...busOptions } = options
  const pending = singleton(`tierbus:${key}`, () =>
    createBusFromEnv(busOptions).then(
      (bus) => {
        if (closeOnSignal) closeOnShutdown(bus)
        return bus
      },
      (err: unknown) => {
        registry.delete(`tierbus:${key}`)
        throw err
      },
    ),
  )
  return pending
}

/** Options of `startConsumers`. */
export interface StartConsumersOptions extends SharedBusOptions {
  /** Reports each failed attempt (the tier is down, a subscribe failed); default: `console.error`. */
  onStartError?: (error: unknown, attempt: number) => void
  /** First retry delay, ms (doubles up to `maxDelayMs`). */
  initialDelayMs?: number
  /** Longest wait between attempts, ms. */
  maxDelayMs?: number
}

/** Defaults of `startConsumers`. */
export const START_CONSUMERS_DEFAULTS = Object.freeze({ initialDelayMs: 500, maxDelayMs: 30_000 })

/**
 * Starts a long-running server's consumers from `instrumentation.ts` without making startup depend on
 * the tier: `start(bus)` runs once the shared bus can be created, retried with backoff (for as long as it
 * takes) while the tier is down. It returns at once and never throws, so a tier that is down at boot
 * does not take every route down with it. Runs once per process (hot reload safe).
 */
export function startConsumers(
  start: (bus: Bus) => Promise<unknown>,
  options: StartConsumersOptions = {},
): Promise<Bus> {
  const {
    onStartError,
    initialDelayMs = START_CONSUMERS_DEFAULTS.initialDelayMs,
    maxDelayMs = START_CONSUMERS_DEFAULTS.maxDelayMs,
    ...busOptions
  } = options
  const report =
    onStartError ??
    ((err: unknown, attempt: number) =>
      console.error(`[tierbus] starting consumers failed (attempt ${attempt}); retrying:`, err))
  return singleton(`tierbus:consumers:${busOptions.key ?? 'bus'}`, async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        const bus = await sharedBus(busOptions)
        await start(bus)
        return bus
      } catch (err) {
        report(err, attempt)
        const delay = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt - 1, 20))
        await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random() / 2)).unref?.())
      }
    }
  })
}

/** Forgets (and closes) a shared bus, e.g. in tests. */
export async function resetSharedBus(key = 'bus'): Promise<void> {
  const pending = registry.get(`tierbus:${key}`) as Promise<Bus> | undefined
  registry.delete(`tierbus:${key}`)
  await (await pending?.catch(() => undefined))?.close()
}
