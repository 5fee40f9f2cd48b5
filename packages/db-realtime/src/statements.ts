import { quoteSchema } from './schema-name.js'

/**
 * The SQL functions the migrations create and the transport calls, with their parameter names in call
 * order. pg and PGlite call them with `SELECT`; Supabase calls the same functions through PostgREST RPC
 * (named arguments), so all three drivers run exactly the same SQL.
 */
export const DB_FUNCTIONS = Object.freeze({
  publish: { params: ['p_events'], returns: 'value' },
  register_group: {
    params: ['p_name', 'p_pattern', 'p_regex', 'p_prefix', 'p_start', 'p_ephemeral'],
    returns: 'value',
  },
  drop_group: { params: ['p_group'], returns: 'value' },
  claim: { params: ['p_group', 'p_limit', 'p_lease_ms', 'p_ordered', 'p_scan'], returns: 'rows' },
  ack: { params: ['p_group', 'p_seqs', 'p_attempts'], returns: 'value' },
  retry: { params: ['p_group', 'p_seq', 'p_attempt', 'p_delay_ms'], returns: 'value' },
  touch: { params: ['p_group', 'p_seq', 'p_attempt', 'p_lease_ms'], returns: 'value' },
  release: { params: ['p_group', 'p_seqs', 'p_attempts'], returns: 'value' },
  dead_letter: { params: ['p_group', 'p_seq', 'p_attempt', 'p_kind', 'p_error', 'p_attempts'], returns: 'value' },
  dead_letter_list: { params: ['p_group_name', 'p_limit'], returns: 'rows' },
  dead_letter_redrive: { params: ['p_ids'], returns: 'value' },
  dead_letter_purge: { params: ['p_ids'], returns: 'value' },
  replay_page: { params: ['p_from', 'p_to', 'p_regex', 'p_prefix', 'p_after', 'p_limit'], returns: 'rows' },
  count_range: { params: ['p_from', 'p_to', 'p_regex', 'p_prefix'], returns: 'value' },
  payload_put: { params: ['p_id', 'p_body', 'p_ttl_ms'], returns: 'value' },
  payload_get: { params: ['p_id'], returns: 'value' },
  prune: { params: ['p_after', 'p_max_age_ms', 'p_max_events', 'p_batch'], returns: 'rows' },
} as const)

/** Name of one tierbus SQL function. */
export type DbFunction = keyof typeof DB_FUNCTIONS

/** A result row; scalar functions come back as one row `{ value }`. */
export type DbRow = Record<string, unknown>

/**
 * The SELECT that calls `fn` in `schema` with positional parameters `$1..$n` (named notation, so a
 * reordered signature fails loudly instead of mixing arguments up).
 */
export function functionCallSql(schema: string, fn: DbFunction): string {
  const { params, returns } = DB_FUNCTIONS[fn]
  const args = params.map((p, i) => `${p} => $${i + 1}`).join(', ')
  const call = `${quoteSchema(schema)}.${fn}(${args})`
  return returns === 'rows' ? `SELECT * FROM ${call}` : `SELECT ${call} AS value`
}

/** The same call as `functionCallSql` with the JSON array argument cast, for `publishInTransaction`. */
export function publishSql(schema: string): string {
  return `SELECT ${quoteSchema(schema)}.publish(p_events => $1::jsonb) AS value`
}

/**
 * The CloudEvents attributes stored in their own columns (or implied, `datacontenttype`); every other attribute
 * goes to `extras`. The same list as the `publish` SQL function's `e - ARRAY[...]`.
 */
export const COLUMN_ATTRIBUTES: ReadonlySet<string> = new Set([
  'specversion',
  'id',
  'type',
  'subject',
  'source',
  'time',
  'datacontenttype',
  'data',
])

/** One event as `insertEventSql` takes it: id, type, subject, source, time, data (JSON), extras (JSON), deliver_at. */
export type EventRow = [
  id: string,
  type: string,
  subject: string | null,
  source: string,
  time: string,
  data: string | null,
  extras: string,
  deliverAt: string | null,
]

/**
 * One event stored with a plain INSERT, the columns as parameters: what `publish` does for one envelope (same
 * rows, same trigger, an id already stored is skipped), without Postgres decoding the whole envelope from a JSON
 * array argument first. Single-event publishes on pg and PGlite use it; Supabase calls `publish` over RPC.
 */
export function insertEventSql(schema: string): string {
  return `INSERT INTO ${quoteSchema(schema)}.events (id, type, subject, source, time, data, extras, deliver_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`
}

/** Checks that a schema has been migrated: the latest applied migration version. */
export function migratedVersionSql(schema: string): string {
  return `SELECT max(version) AS value FROM ${quoteSchema(schema)}.migrations`
}
