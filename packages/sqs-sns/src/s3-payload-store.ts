import type { GetObjectCommandOutput } from '@aws-sdk/client-s3'
import { ConfigError, isPayloadId, type PayloadStore, TransportError } from '@tierbus/core'

/**
 * What the store uses of an `S3Client` from @aws-sdk/client-s3 (a real one fits): `send`. Declared here so
 * the package's types never need the optional peer's.
 */
export interface S3ClientLike {
  send(command: object): Promise<unknown>
}

/** Options of `s3PayloadStore`. */
export interface S3PayloadStoreOptions {
  /** The `S3Client` (the app's: region, credentials, endpoint); the store never destroys it. */
  client: S3ClientLike
  /** The bucket bodies go to (it must exist). */
  bucket: string
  /** Key prefix inside the bucket (default `tierbus/payloads/`): bodies live at `<prefix><id>.json`. */
  prefix?: string
}

/** Defaults of `S3PayloadStoreOptions`. */
export const S3_PAYLOAD_STORE_DEFAULTS = Object.freeze({ prefix: 'tierbus/payloads/' })

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/
const PREFIX = /^[A-Za-z0-9!_.*'()/-]{0,200}$/

/** `@aws-sdk/client-s3` is an optional peer: loaded on first use, so apps without S3 need not install it. */
let commands: Promise<typeof import('@aws-sdk/client-s3')> | undefined
function s3Commands(): Promise<typeof import('@aws-sdk/client-s3')> {
  commands ??= import('@aws-sdk/client-s3').catch((err: unknown) => {
    commands = undefined
    throw new ConfigError('s3PayloadStore needs @aws-sdk/client-s3: npm install @aws-sdk/client-s3', { cause: err })
  })
  return commands
}

/**
 * Claim-check bodies in S3 (big events on the SQS/SNS tier, or any tier): one object per body at
 * `<prefix><id>.json` in the configured bucket, so a reference can only ever name an object under that
 * prefix. Retention is the bucket's: add a lifecycle rule expiring objects under the prefix after at least
 * the queues' retention (14 days by default), e.g. `{ Filter: { Prefix: 'tierbus/payloads/' },
 * Expiration: { Days: 15 } }`; S3 has no per-object TTL.
 */
export function s3PayloadStore(options: S3PayloadStoreOptions): PayloadStore {
  const { client, bucket } = options
  const prefix = options.prefix ?? S3_PAYLOAD_STORE_DEFAULTS.prefix
  if (!client || typeof client.send !== 'function')
    throw new ConfigError('s3PayloadStore({ client }): pass an S3Client from @aws-sdk/client-s3')
  if (typeof bucket !== 'string' || !BUCKET.test(bucket))
    throw new ConfigError(
      's3PayloadStore({ bucket }): a bucket name is 3-63 lowercase letters, digits, dots or hyphens',
    )
  if (!PREFIX.test(prefix) || prefix.includes('..') || prefix.startsWith('/')) {
    throw new ConfigError(
      "s3PayloadStore({ prefix }): use letters, digits and ! _ . * ' ( ) / - " +
        "(no '..', no leading '/'), e.g. tierbus/payloads/",
    )
  }
  const key = (id: string) => {
    // Defence in depth: claim-check validates references already; a key is only ever prefix + 32 hex.
    if (!isPayloadId(id)) throw new ConfigError('s3PayloadStore: a payload id is 32 lowercase hex digits')
    return `${prefix}${id}.json`
  }
  return {
    kind: 's3',
    async put(id, body) {
      const { PutObjectCommand } = await s3Commands()
      try {
        await client.send(
          new PutObjectCommand({ Bucket: bucket, Key: key(id), Body: body, ContentType: 'application/json' }),
        )
      } catch (err) {
        throw new TransportError(
          `storing a claim-check body in s3://${bucket}/${prefix} failed: ${(err as Error).message}`,
          { cause: err },
        )
      }
    },
    async get(id) {
      const { GetObjectCommand } = await s3Commands()
      try {
        const object = (await client.send(
          new GetObjectCommand({ Bucket: bucket, Key: key(id) }),
        )) as GetObjectCommandOutput
        return object.Body ? await object.Body.transformToString('utf8') : undefined
      } catch (err) {
        const name = (err as { name?: string }).name
        if (name === 'NoSuchKey' || name === 'NotFound') return undefined
        throw new TransportError(
          `fetching a claim-check body from s3://${bucket}/${prefix} failed: ${(err as Error).message}`,
          { cause: err },
        )
      }
    },
  }
}
