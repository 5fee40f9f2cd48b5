import { ConfigError, type Env, type Transport } from '@tierbus/core'
import { envVar, parseEnv } from '@tierbus/core/adapter'
import { z } from 'zod'
import { amqpTransport } from './transport.js'

const AMQP_URL = envVar.url(['amqp', 'amqps'], 'amqp://guest:guest@127.0.0.1:5672')

/** The environment variables of the AMQP tier. */
export const AmqpEnv = z.object({
  AMQP_URL: AMQP_URL.optional(),
  TIERBUS_AMQP_URL: AMQP_URL.optional(),
  TIERBUS_AMQP_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'dot-separated tokens of letters, digits, _ or -')
    .max(100)
    .optional(),
  TIERBUS_AMQP_ORDERED_PARTITIONS: envVar.positiveInt().optional(),
})

/**
 * Builds the AMQP transport from `TIERBUS_AMQP_URL` or `AMQP_URL` (required: there is no safe default
 * broker), `TIERBUS_AMQP_PREFIX` (default `tierbus`) and `TIERBUS_AMQP_ORDERED_PARTITIONS` (default 4).
 */
export async function transportFromEnv(kind: string, env: Env): Promise<Transport> {
  if (kind !== 'amqp')
    throw new ConfigError(`@tierbus/amqp builds the 'amqp' transport, not '${kind}': install the package for ${kind}`)
  const vars = parseEnv(AmqpEnv, env, 'TIERBUS_TRANSPORT=amqp')
  const url = vars.TIERBUS_AMQP_URL ?? vars.AMQP_URL
  if (!url)
    throw new ConfigError(
      'TIERBUS_TRANSPORT=amqp needs the broker: set AMQP_URL (or TIERBUS_AMQP_URL), ' +
        'e.g. amqp://guest:guest@127.0.0.1:5672',
    )
  return amqpTransport({
    url,
    ...(vars.TIERBUS_AMQP_PREFIX !== undefined ? { prefix: vars.TIERBUS_AMQP_PREFIX } : {}),
    ...(vars.TIERBUS_AMQP_ORDERED_PARTITIONS !== undefined
      ? { orderedPartitions: vars.TIERBUS_AMQP_ORDERED_PARTITIONS }
      : {}),
  })
}
