import { ConfigError, type Env, type Transport } from '@tierbus/core'
import { envVar, parseEnv } from '@tierbus/core/adapter'
import { z } from 'zod'
import { SQS_DEFAULTS } from './options.js'
import { sqsTransport } from './transport.js'

const flag = envVar.flag()

/** The environment variables of the SQS/SNS tier. */
export const SqsEnv = z.object({
  AWS_REGION: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'expected an AWS region such as us-east-1'),
  AWS_ENDPOINT_URL_SQS: z.url().optional(),
  AWS_ENDPOINT_URL_SNS: z.url().optional(),
  AWS_ENDPOINT_URL: z.url().optional(),
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  AWS_SESSION_TOKEN: z.string().min(1).optional(),
  TIERBUS_SQS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,40}$/, "1-40 letters, digits, '_' or '-'")
    .default(SQS_DEFAULTS.prefix),
  TIERBUS_SQS_FIFO: flag.optional(),
  TIERBUS_SQS_PROVISION: flag.optional(),
  NODE_ENV: z.string().optional(),
})

/**
 * Builds the SQS/SNS transport from `AWS_REGION` (required), `AWS_ENDPOINT_URL_SQS` / `_SNS` /
 * `AWS_ENDPOINT_URL` (optional), `TIERBUS_SQS_PREFIX`, `TIERBUS_SQS_FIFO` and `TIERBUS_SQS_PROVISION`
 * (default true outside production). Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN when set in `env`, else the AWS SDK's default chain. Fails at
 * startup (ConfigError) on a bad variable, and when the topic cannot be created or found.
 */
export async function transportFromEnv(kind: string, env: Env): Promise<Transport> {
  if (kind !== 'sqs') throw new ConfigError(`@tierbus/sqs-sns builds TIERBUS_TRANSPORT=sqs, not ${kind}`)
  const vars = parseEnv(
    SqsEnv,
    env,
    'TIERBUS_TRANSPORT=sqs',
    'Set AWS_REGION (e.g. us-east-1); endpoints are only needed for emulators',
  )
  const sqsEndpoint = vars.AWS_ENDPOINT_URL_SQS ?? vars.AWS_ENDPOINT_URL
  const snsEndpoint = vars.AWS_ENDPOINT_URL_SNS ?? vars.AWS_ENDPOINT_URL
  if ((vars.AWS_ACCESS_KEY_ID === undefined) !== (vars.AWS_SECRET_ACCESS_KEY === undefined)) {
    throw new ConfigError(
      'TIERBUS_TRANSPORT=sqs: set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither (to use a profile or an IAM role)',
    )
  }
  const provision =
    vars.TIERBUS_SQS_PROVISION !== undefined ? vars.TIERBUS_SQS_PROVISION === 'true' : vars.NODE_ENV !== 'production'
  const transport = await sqsTransport({
    region: vars.AWS_REGION,
    ...(sqsEndpoint || snsEndpoint
      ? { endpoint: { ...(sqsEndpoint ? { sqs: sqsEndpoint } : {}), ...(snsEndpoint ? { sns: snsEndpoint } : {}) } }
      : {}),
    // Keys in the given env win; without them the SDK's default chain (process env, profile, role) applies.
    ...(vars.AWS_ACCESS_KEY_ID && vars.AWS_SECRET_ACCESS_KEY
      ? {
          credentials: {
            accessKeyId: vars.AWS_ACCESS_KEY_ID,
            secretAccessKey: vars.AWS_SECRET_ACCESS_KEY,
            ...(vars.AWS_SESSION_TOKEN ? { sessionToken: vars.AWS_SESSION_TOKEN } : {}),
          },
        }
      : {}),
    prefix: vars.TIERBUS_SQS_PREFIX,
    fifo: vars.TIERBUS_SQS_FIFO === 'true',
    provision,
  })
  try {
    // Fail at startup, not at first publish: create (provision) or find the namespace topic now.
    await transport.topicArn()
  } catch (err) {
    await transport.close()
    throw new ConfigError(`TIERBUS_TRANSPORT=sqs: ${(err as Error).message}`, { cause: err })
  }
  return transport
}
