import { createBusFromEnv, type Bus, type BusFromEnvOptions } from '@tierbus/core'

const registry: Map<string, unknown> = ((globalThis as { __tierbus?: Map<string, unknown> }).__tierbus ??= new Map())

/**
 * One value per key for the whole process, kept on `globalThis` so Next.js hot reload (which re-runs
 * modules) does not open a new connection per edit or per request.
 */
export function singleton<T>(key: string, create: () => T): T {
  if (!registry.has(key)) registry.set(key, create())
  return registry.get(key) as T
}

/** The app's bus from `createBusFromEnv`, created once per process. A failed creation is not cached. */
export function sharedBus(options: BusFromEnvOptions & { key?: string } = {}): Promise<Bus> {
  const { key = 'bus', ...busOptions } = options
  const pending = singleton(`tierbus:${key}`, () =>
    createBusFromEnv(busOptions).catch((err: unknown) => {
      registry.delete(`tierbus:${key}`)
      throw err
    }),
  )
  return pending
}

/** Forgets (and closes) a shared bus, e.g. in tests. */
export async function resetSharedBus(key = 'bus'): Promise<void> {
  const pending = registry.get(`tierbus:${key}`) as Promise<Bus> | undefined
  registry.delete(`tierbus:${key}`)
  await (await pending?.catch(() => undefined))?.close()
}
