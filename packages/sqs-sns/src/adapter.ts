import type { TierAdapter } from '@tierbus/core'
import { SqsEnv, transportFromEnv } from './env.js'

/** `TIERBUS_TRANSPORT=sqs` (AWS_REGION, optional endpoints): pass to `createBusFromEnv({ adapters })`. */
export const sqsAdapter: TierAdapter = Object.freeze<TierAdapter>({
  kind: 'sqs',
  install: '@tierbus/sqs-sns @aws-sdk/client-sqs @aws-sdk/client-sns',
  env: SqsEnv,
  create: (env) => transportFromEnv('sqs', env),
})

/** Every adapter of this package. */
export const tierbusAdapters: readonly TierAdapter[] = Object.freeze([sqsAdapter])
