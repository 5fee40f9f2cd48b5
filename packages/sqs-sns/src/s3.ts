/**
 * @tierbus/sqs-sns/s3 — the S3 payload store for claim-check (big events). A separate entry, so an app that
 * does not use it neither installs `@aws-sdk/client-s3` nor has a bundler (Next.js) try to resolve it.
 */
export type { S3ClientLike, S3PayloadStoreOptions } from './s3-payload-store.js'
export { S3_PAYLOAD_STORE_DEFAULTS, s3PayloadStore } from './s3-payload-store.js'
