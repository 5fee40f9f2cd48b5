import { ConfigError, type Env, type Transport } from '@tierbus/core'
import { envVar, parseEnv } from '@tierbus/core/adapter'
import { z } from 'zod'
import { natsTransport } from './transport.js'

const NATS_URL = z
  .string()
  .min(1)
  .refine((v) => v.split(',').every((u) => /^(nats|tls|ws|wss):\/\/[^\s,]+$|^[^\s:/,]+:\d+$/.test(u.trim())), {
    message: 'expected nats://host:port (comma-separated for a cluster)',
  })

/** The environment variables of the NATS tier. */
export const NatsEnv = z.object({
  NATS_URL: NATS_URL.optional(),
  TIERBUS_NATS_URL: NATS_URL.optional(),
  TIERBUS_NATS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'dot-separated tokens of letters, digits, _ or -')
    .max(100)
    .optional(),
  TIERBUS_NATS_STREAM: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, '1-64 letters, digits, _ or -')
    .optional(),
  TIERBUS_NATS_MAX_AGE_MS: envVar.nonNegativeInt().optional(),
})

/**
 * Builds the NATS transport from `TIERBUS_NATS_URL` or `NATS_URL` (required: there is no safe
 * default server), `TIERBUS_NATS_PREFIX` (default `tierbus`), `TIERBUS_NATS_STREAM` (default
 * `TIERBUS`) and `TIERBUS_NATS_MAX_AGE_MS` (default 7 days).
 */
export async function transportFromEnv(kind: string, env: Env): Promise<Transport> {
  if (kind !== 'nats')
    throw new ConfigError(`@tierbus/nats builds the 'nats' transport, not '${kind}': install the package for ${kind}`)
  const vars = parseEnv(NatsEnv, env, 'TIERBUS_TRANSPORT=nats')
  const url = vars.TIERBUS_NATS_URL ?? vars.NATS_URL
  if (!url)
    throw new ConfigError(
      'TIERBUS_TRANSPORT=nats needs the server: set NATS_URL (or TIERBUS_NATS_URL), e.g. nats://127.0.0.1:4222',
    )
  return natsTransport({
    servers: url.split(',').map((u) => u.trim()),
    ...(vars.TIERBUS_NATS_PREFIX !== undefined ? { prefix: vars.TIERBUS_NATS_PREFIX } : {}),
    ...(vars.TIERBUS_NATS_STREAM !== undefined ? { stream: vars.TIERBUS_NATS_STREAM } : {}),
    ...(vars.TIERBUS_NATS_MAX_AGE_MS !== undefined ? { maxAgeMs: vars.TIERBUS_NATS_MAX_AGE_MS } : {}),
  })
}
