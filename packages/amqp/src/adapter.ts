import type { TierAdapter } from '@tierbus/core'
import { AmqpEnv, transportFromEnv } from './env.js'

/** `TIERBUS_TRANSPORT=amqp` (AMQP_URL): pass to `createBusFromEnv({ adapters })`. */
export const amqpAdapter: TierAdapter = Object.freeze<TierAdapter>({
  kind: 'amqp',
  install: '@tierbus/amqp amqplib',
  env: AmqpEnv,
  create: (env) => transportFromEnv('amqp', env),
})

/** Every adapter of this package. */
export const tierbusAdapters: readonly TierAdapter[] = Object.freeze([amqpAdapter])
