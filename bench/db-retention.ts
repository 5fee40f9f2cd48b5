/**
 * db-realtime retention benchmark: how long `transport.prune()` takes to remove the same number of old events
 * from a small and a 10x larger events table. prune walks the primary key from the oldest event in steps of
 * `batchSize`, so its cost should follow the rows it removes, not the size of the table.
 * Run: npx tsx --conditions=tierbus-source bench/db-retention.ts   (DATABASE_URL; BENCH_RETENTION_ROWS=200000)
 */

import { postgresTransport } from '@tierbus/db-realtime'
import pg from 'pg'
import { fmt, machineLine, table, writeBenchSection } from './report.js'

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const SMALL = Number(process.env.BENCH_RETENTION_ROWS ?? 200_000)
const SIZES = [SMALL, SMALL * 10]
/** Old events pruned at every size. */
const PRUNED = SMALL / 2
const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 1 })

interface RetentionResult {
  readonly rows: number
  readonly fillSeconds: number
  readonly deleted: number
  readonly steps: number
  readonly seconds: number
}

/** A fresh schema with `rows` events (~300 bytes of data each), the oldest PRUNED of them two days old. */
async function measure(rows: number): Promise<RetentionResult> {
  const schema = `bench_ret_${Math.random().toString(36).slice(2, 8)}`
  const t = await postgresTransport({ connectionString: DATABASE_URL, schema, onError: () => {} })
  try {
    const fill0 = performance.now()
    // Rows written in chunks of 100,000 (one statement each).
    for (let from = 1; from <= rows; from += 100_000) {
      await admin.query(
        `INSERT INTO "${schema}".events (id, type, source, data, created_at)
         SELECT 'r' || g, 'bench.retention', 'bench', jsonb_build_object('text', repeat('x', 300)),
                CASE WHEN g <= $3 THEN now() - interval '2 days' ELSE now() END
         FROM generate_series($1::bigint, $2::bigint) AS g`,
        [from, Math.min(rows, from + 99_999), PRUNED],
      )
    }
    // A group that has settled everything (as consumers that keep up would have): it starts after these events.
    await admin.query(`SELECT "${schema}".register_group('settled', 'bench.>', '^bench[.]', 'bench.', 'latest', false)`)
    await admin.query(`VACUUM ANALYZE "${schema}".events`)
    const fillSeconds = (performance.now() - fill0) / 1000
    const t0 = performance.now()
    const result = await t.prune({ maxAgeMs: 86_400_000 })
    const seconds = (performance.now() - t0) / 1000
    return { rows, fillSeconds, deleted: result.deleted, steps: result.steps, seconds }
  } finally {
    await t.close()
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  }
}

async function main(): Promise<void> {
  const results: RetentionResult[] = []
  try {
    for (const rows of SIZES) {
      const r = await measure(rows)
      console.log(
        `${fmt(r.rows)} events: pruned ${fmt(r.deleted)} in ${r.seconds.toFixed(2)} s (${r.steps} steps, ${fmt(r.deleted / r.seconds)} events/s); fill took ${r.fillSeconds.toFixed(1)} s`,
      )
      results.push(r)
    }
  } finally {
    await admin.end()
  }
  const [small, large] = results
  if (!small || !large) return
  const ratio = large.seconds / small.seconds
  writeBenchSection(
    'db-retention',
    `## db-realtime retention (bench/db-retention.ts)

${machineLine()}, PostgreSQL 15 on loopback (shared 2-core machine, heavily loaded by other work: absolute times are indicative).
\`transport.prune({ maxAgeMs: 1 day })\` on an events table whose oldest ${fmt(PRUNED)} events are two days old, the rest new
(~300 bytes of data each), one settled group; batches of 5,000 events per step (one short transaction each).

${table(
  ['events in the table', 'pruned', 'steps', 'seconds', 'pruned events/s'],
  results.map((r) => [fmt(r.rows), fmt(r.deleted), r.steps, r.seconds.toFixed(2), fmt(r.deleted / r.seconds)]),
)}

Time for the same work on a 10× larger table: ${ratio.toFixed(2)}× (1.0 would be independent of table size). A prune step
reads the primary key from where the last one stopped, so the rows it visits are the rows it removes (plus one batch of
young ones at the end); what grows with the table is how much of it is out of cache (the larger table here no longer fit
in shared buffers on a busy server) and the depth of the b-trees (one more level between 1M and 100M rows). A 100M-row
table was not generated here (the fill alone would have run for over an hour on this machine); from these two points a
step at 100M rows should cost the same order of time, not 100× more. The space deleted rows leave is reclaimed by
autovacuum and reused by new events; the file does not shrink.`,
  )
}

await main()
