import type { Bus } from '@tierbus/core'

/** Longest a shutdown waits for the shared buses to close before the process exits anyway. */
export const SHUTDOWN_TIMEOUT_MS = 15_000

const SIGNALS = ['SIGTERM', 'SIGINT'] as const
const EXIT_CODES: Record<(typeof SIGNALS)[number], number> = { SIGTERM: 143, SIGINT: 130 }

interface ShutdownState {
  readonly buses: Set<Bus>
  installed: boolean
}

// On globalThis, like the buses themselves: hot reload must not install a second set of handlers.
const state: ShutdownState = ((globalThis as { __tierbusShutdown?: ShutdownState }).__tierbusShutdown ??= { buses: new Set(), installed: false })

/**
 * Closes `bus` when the process gets SIGTERM or SIGINT. `next start` handles those signals itself and
 * calls `process.exit()` as soon as its HTTP server has closed, which would cut an async close short;
 * so while the buses close (at most SHUTDOWN_TIMEOUT_MS) an exit is held back, then let through with
 * the code it asked for. Where nothing else handles the signal, the process exits with 128 + signal.
 */
export function closeOnShutdown(bus: Bus): void {
  if (!receivesSignals()) return
  state.buses.add(bus)
  if (state.installed) return
  state.installed = true
  for (const signal of SIGNALS) process.once(signal, () => shutdown(signal))
}

/** False in edge runtimes: they have no signals, and touching their `process.once` throws. */
function receivesSignals(): boolean {
  if (typeof (globalThis as { EdgeRuntime?: unknown }).EdgeRuntime === 'string') return false
  try {
    return typeof globalThis.process?.once === 'function'
  } catch {
    return false
  }
}

function shutdown(signal: (typeof SIGNALS)[number]): void {
  const buses = [...state.buses]
  state.buses.clear()
  let timer: NodeJS.Timeout | undefined
  const closed = Promise.race([
    Promise.allSettled(buses.map((b) => b.close())),
    new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_TIMEOUT_MS))),
  ]).finally(() => clearTimeout(timer))
  const exit = process.exit.bind(process)
  let requested: number | string | null | undefined = EXIT_CODES[signal]
  let exiting = false
  process.exit = ((code?: number | string | null) => {
    requested = code ?? requested
    if (!exiting) {
      exiting = true
      void closed.then(() => exit(requested as number))
    }
    return undefined as never
  }) as typeof process.exit
  // Nobody else listens (a plain `node server.js`): exit ourselves once closed, as the default would.
  if (process.listenerCount(signal) === 0) process.exit(EXIT_CODES[signal])
}
