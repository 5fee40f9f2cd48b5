import type { TierAdapter } from '@tierbus/core'
import { NatsEnv, transportFromEnv } from './env.js'

/** `TIERBUS_TRANSPORT=nats` (NATS_URL): pass to `createBusFromEnv({ adapters })`. */
export const natsAdapter: TierAdapter = Object.freeze<TierAdapter>({
  kind: 'nats',
  install: '@tierbus/nats nats',
  env: NatsEnv,
  create: (env) => transportFromEnv('nats', env),
})

/** Every adapter of this package. */
export const tierbusAdapters: readonly TierAdapter[] = Object.freeze([natsAdapter])
