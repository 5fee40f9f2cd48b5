// Every public entry of every tierbus package, in an app that installed none of the optional peers
// (no pg, @types/pg, @electric-sql/pglite, @supabase/supabase-js, ioredis, @upstash/redis, @aws-sdk/client-s3).
// `tsc --noEmit` with skipLibCheck: false checks each package's .d.ts files as it loads them.
import * as cli from '@tierbus/cli'
import * as core from '@tierbus/core'
import * as adapter from '@tierbus/core/adapter'
import * as testing from '@tierbus/core/testing'
import * as db from '@tierbus/db-realtime'
import * as migrator from '@tierbus/migrator'
import * as nats from '@tierbus/nats'
import * as next from '@tierbus/next'
import * as redis from '@tierbus/redis-streams'
import * as sqs from '@tierbus/sqs-sns'
import * as sqsS3 from '@tierbus/sqs-sns/s3'

export const entries = [cli, core, adapter, testing, db, migrator, nats, next, redis, sqs, sqsS3]

// The bring-your-own-client options are usable without the client packages' types.
export const options: Array<db.PostgresTransportOptions | redis.RedisTransportOptions | redis.UpstashTransportOptions> =
  [
    {
      connectionString: 'postgres://localhost/app',
      directConnectionString: 'postgres://localhost/app',
      pooler: 'transaction',
    },
    { url: 'redis://localhost:6379', clientOptions: { db: 1 } },
    { url: 'https://example.upstash.io', token: 'token' },
  ]
