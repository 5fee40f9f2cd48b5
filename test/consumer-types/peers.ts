// With the optional peers installed, their real clients fit the structural client types tierbus declares.
import { S3Client } from '@aws-sdk/client-s3'
import { PGlite } from '@electric-sql/pglite'
import { createClient } from '@supabase/supabase-js'
import {
  migrate,
  type PgliteLike,
  type PgliteTransportOptions,
  type PgPoolLike,
  type PostgresTransportOptions,
  publishInTransaction,
  type SupabaseClientLike,
  type SupabaseTransportOptions,
  type TransactionClient,
} from '@tierbus/db-realtime'
import type {
  IORedisLike,
  RedisTransportOptions,
  UpstashRedisLike,
  UpstashTransportOptions,
} from '@tierbus/redis-streams'
import { s3PayloadStore } from '@tierbus/sqs-sns/s3'
import { Redis as UpstashRedis } from '@upstash/redis'
import { Redis } from 'ioredis'
import pg from 'pg'

const pool: PgPoolLike = new pg.Pool({ connectionString: 'postgres://localhost/app' })
const pglite: PgliteLike = new PGlite()
const supabase: SupabaseClientLike = createClient('https://example.supabase.co', 'service-role-key')
const ioredis: IORedisLike = new Redis({ lazyConnect: true })
const upstash: UpstashRedisLike = new UpstashRedis({ url: 'https://example.upstash.io', token: 'token' })

export const options = {
  postgres: { client: new pg.Pool() } satisfies PostgresTransportOptions,
  pglite: { client: new PGlite() } satisfies PgliteTransportOptions,
  supabase: { client: createClient('https://example.supabase.co', 'key') } satisfies SupabaseTransportOptions,
  redis: { client: new Redis(), clientOptions: { db: 1, tls: {} } } satisfies RedisTransportOptions,
  upstash: {
    client: new UpstashRedis({ url: 'https://example.upstash.io', token: 'token' }),
  } satisfies UpstashTransportOptions,
}

export async function inTransaction(client: pg.PoolClient): Promise<void> {
  const tx: TransactionClient = client
  await publishInTransaction(tx, [])
  await migrate(new pg.Client())
  await migrate(new PGlite())
}

export const s3 = s3PayloadStore({ client: new S3Client({ region: 'us-east-1' }), bucket: 'app-events' })

export const clients = [pool, pglite, supabase, ioredis, upstash]
