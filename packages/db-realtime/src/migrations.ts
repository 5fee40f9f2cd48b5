import { ConfigError, TransportError } from '@tierbus/core'
import { assertSchemaName, channelOf, quoteSchema } from './schema-name.js'
import { assertOwnSchema, OWNED_MARK } from './schema-ownership.js'

/**
 * The versioned SQL migrations of the db-realtime tier. Each one is idempotent (IF NOT EXISTS /
 * CREATE OR REPLACE), applied in order inside one transaction, and recorded in `<schema>.migrations`.
 * `{{S}}` is the quoted schema name and `{{CHANNEL}}` the NOTIFY channel: both come from a validated
 * identifier (`assertSchemaName`); nothing user-supplied is ever spliced into SQL text.
 *
 * Design: `events` is an append-only log (the audit trail). A group keeps a cursor over it ordered by
 * (tx_id, seq): only rows of transactions older than every running transaction are read, so a row that
 * commits late can never fall behind a cursor (gap-free without serialising publishers). Claiming copies
 * the group's new matching events into `deliveries` (its in-flight / retry state) and leases a batch of
 * due rows with `FOR UPDATE SKIP LOCKED`; a lease is simply `available_at` in the future.
 */
export interface Migration {
  readonly version: number
  readonly name: string
  readonly sql: string
}

/** The end of the events triggers: one NOTIFY per INSERT statement with the distinct new types (or '*'), a hint only. */
const NOTIFY_NEW_TYPES = `  SELECT string_agg(DISTINCT n.type, ' ') INTO v_types FROM new_events n;
  IF v_types IS NULL THEN RETURN NULL; END IF;
  IF octet_length(v_types) > 7000 THEN v_types := '*'; END IF;
  PERFORM pg_notify('{{CHANNEL}}', v_types);
  RETURN NULL;`

/** One deliveries row per (new event, matching group): the fan-out of the events trigger (migrations 6 and 8). */
const FAN_OUT_NEW_EVENTS = `  INSERT INTO {{S}}.deliveries (group_id, seq, subject, available_at)
  SELECT g.id, n.seq, n.subject, coalesce(n.deliver_at, now())
  FROM new_events n JOIN {{S}}.groups g ON starts_with(n.type, g.type_prefix) AND n.type ~ g.pattern_regex;`

const TABLES = String.raw`
CREATE TABLE IF NOT EXISTS {{S}}.events (
  seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id         text NOT NULL UNIQUE,
  type       text NOT NULL,
  subject    text,
  source     text,
  time       timestamptz NOT NULL DEFAULT now(),
  data       jsonb,
  extras     jsonb NOT NULL DEFAULT '{}'::jsonb,
  deliver_at timestamptz,
  tx_id      xid8 NOT NULL DEFAULT pg_current_xact_id(),
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE {{S}}.events IS 'tierbus: append-only event log (CloudEvents); extras holds the other envelope attributes';
CREATE INDEX IF NOT EXISTS events_cursor ON {{S}}.events (tx_id, seq);
CREATE INDEX IF NOT EXISTS events_time ON {{S}}.events USING brin (time);

CREATE TABLE IF NOT EXISTS {{S}}.groups (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name           text NOT NULL,
  pattern        text NOT NULL,
  pattern_regex  text NOT NULL,
  type_prefix    text NOT NULL,
  cursor_tx      xid8 NOT NULL,
  cursor_seq     bigint NOT NULL DEFAULT 0,
  start_snapshot pg_snapshot,
  ephemeral      boolean NOT NULL DEFAULT false,
  created_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (name, pattern)
);
COMMENT ON TABLE {{S}}.groups IS 'tierbus: consumer groups, one per (name, pattern), with their cursor over events';

CREATE TABLE IF NOT EXISTS {{S}}.deliveries (
  group_id     bigint NOT NULL REFERENCES {{S}}.groups (id) ON DELETE CASCADE,
  seq          bigint NOT NULL,
  subject      text,
  available_at timestamptz NOT NULL,
  attempt      integer NOT NULL DEFAULT 0,
  PRIMARY KEY (group_id, seq)
);
COMMENT ON TABLE {{S}}.deliveries IS 'tierbus: per-group pending, leased (available_at = lease end) and retrying events';
CREATE INDEX IF NOT EXISTS deliveries_due ON {{S}}.deliveries (group_id, available_at, seq);
CREATE INDEX IF NOT EXISTS deliveries_key ON {{S}}.deliveries (group_id, subject, seq) WHERE subject IS NOT NULL;

CREATE TABLE IF NOT EXISTS {{S}}.dead_letters (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  group_id   bigint REFERENCES {{S}}.groups (id) ON DELETE SET NULL,
  group_name text NOT NULL,
  pattern    text NOT NULL,
  seq        bigint NOT NULL,
  event_id   text,
  kind       text NOT NULL,
  error      text NOT NULL,
  attempts   integer NOT NULL,
  failed_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE {{S}}.dead_letters IS 'tierbus: events a group gave up on, with the reason; the event row stays in events';
CREATE INDEX IF NOT EXISTS dead_letters_group ON {{S}}.dead_letters (group_name, id);

-- Row Level Security with no policy: roles without BYPASSRLS (Supabase anon / authenticated keys) see
-- and change nothing, even if a default grant gave them table privileges.
ALTER TABLE {{S}}.events ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.groups ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.dead_letters ENABLE ROW LEVEL SECURITY;

-- NOTIFY once per INSERT statement; the payload is only a hint (the distinct types, or '*'), never a count.
CREATE OR REPLACE FUNCTION {{S}}.notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v_types text;
BEGIN
${NOTIFY_NEW_TYPES}
END $$;
CREATE OR REPLACE TRIGGER events_notify AFTER INSERT ON {{S}}.events
  REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION {{S}}.notify_events();

-- Supabase: stream inserts to Realtime (postgres_changes), the push of the supabase driver.
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'supabase_realtime')
     AND NOT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = 'supabase_realtime' AND schemaname = '{{SCHEMA}}' AND tablename = 'events') THEN
    ALTER PUBLICATION supabase_realtime ADD TABLE {{S}}.events;
  END IF;
END $$;
`

const FUNCTIONS = String.raw`
-- The CloudEvents structured-JSON text of a row (rows written by hand may not decode: the consumer then
-- receives them as malformed and dead-letters them with the reason).
CREATE OR REPLACE FUNCTION {{S}}.envelope_text(e {{S}}.events) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT (jsonb_build_object(
      'specversion', '1.0', 'id', e.id, 'source', e.source, 'type', e.type,
      'time', to_char(e.time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      'datacontenttype', 'application/json', 'data', e.data)
    || CASE WHEN e.subject IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('subject', e.subject) END
    || e.extras)::text
$$;

-- Appends a JSON array of envelopes; an id already stored is skipped (idempotent publish). Returns rows written.
CREATE OR REPLACE FUNCTION {{S}}.publish(p_events jsonb) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_count integer;
BEGIN
  -- plpgsql (not sql) so the INSERT's plan is cached per session instead of re-planned on every call.
  WITH written AS (
    INSERT INTO {{S}}.events (id, type, subject, source, time, data, extras, deliver_at)
    SELECT e->>'id', e->>'type', e->>'subject', e->>'source', (e->>'time')::timestamptz, e->'data',
           e - ARRAY['specversion', 'id', 'type', 'subject', 'source', 'time', 'datacontenttype', 'data'],
           (e->>'deliverat')::timestamptz
    FROM jsonb_array_elements(p_events) AS e
    ON CONFLICT (id) DO NOTHING
    RETURNING 1)
  SELECT count(*)::integer INTO v_count FROM written;
  RETURN v_count;
END $$;

-- Creates the group (name, pattern) if missing and returns its id. 'latest' starts after every event
-- committed now (exactly: events visible in the current snapshot are skipped); 'earliest' replays all.
CREATE OR REPLACE FUNCTION {{S}}.register_group(p_name text, p_pattern text, p_regex text, p_prefix text, p_start text, p_ephemeral boolean)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_id bigint; v_snap pg_snapshot := pg_current_snapshot();
BEGIN
  SELECT g.id INTO v_id FROM {{S}}.groups g WHERE g.name = p_name AND g.pattern = p_pattern;
  IF FOUND THEN RETURN v_id; END IF;
  INSERT INTO {{S}}.groups AS g (name, pattern, pattern_regex, type_prefix, cursor_tx, start_snapshot, ephemeral)
  VALUES (p_name, p_pattern, p_regex, p_prefix,
          CASE WHEN p_start = 'earliest' THEN '0'::xid8 ELSE pg_snapshot_xmin(v_snap) END,
          CASE WHEN p_start = 'earliest' THEN NULL ELSE v_snap END, p_ephemeral)
  ON CONFLICT (name, pattern) DO UPDATE SET ephemeral = g.ephemeral
  RETURNING g.id INTO v_id;
  RETURN v_id;
END $$;

-- Removes a group and its pending deliveries (ephemeral request-reply inboxes, when they close).
CREATE OR REPLACE FUNCTION {{S}}.drop_group(p_group bigint) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_count integer;
BEGIN
  WITH gone AS (DELETE FROM {{S}}.groups WHERE id = p_group RETURNING 1) SELECT count(*)::integer INTO v_count FROM gone;
  RETURN v_count;
END $$;

-- Claims up to p_limit due deliveries for one member of a group, leasing them for p_lease_ms.
-- First moves the group's cursor over new committed events (at most p_scan rows), copying matching
-- ones into deliveries; a member that finds another one filling skips that step (SKIP LOCKED).
-- Returns the leased rows; when there are none, one row with seq NULL whose hint says when to look
-- again: 'more' (at once), 'soon' (events beyond the visibility horizon, or another member filling),
-- 'idle' (wait for a notification), and next_in_ms (the next delayed / retrying / leased row).
CREATE OR REPLACE FUNCTION {{S}}.claim(p_group bigint, p_limit integer, p_lease_ms integer, p_ordered boolean, p_scan integer)
RETURNS TABLE (seq bigint, attempt integer, envelope text, hint text, next_in_ms integer) LANGUAGE plpgsql AS $$
DECLARE
  v_horizon xid8 := pg_snapshot_xmin(pg_current_snapshot());
  g {{S}}.groups%ROWTYPE;
  v_scanned integer := 0;
  v_last_tx xid8;
  v_last_seq bigint;
  v_hint text := 'idle';
  v_taken integer;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT * INTO g FROM {{S}}.groups WHERE id = p_group;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'tierbus group % does not exist (dropped?): subscribe again', p_group USING ERRCODE = 'P0002';
  END IF;
  IF EXISTS (SELECT 1 FROM {{S}}.events e WHERE (e.tx_id, e.seq) > (g.cursor_tx, g.cursor_seq)) THEN
    SELECT * INTO g FROM {{S}}.groups WHERE id = p_group FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
      v_hint := 'soon';
    ELSE
      WITH scanned AS (
        SELECT e.seq, e.tx_id, e.type, e.subject, e.deliver_at FROM {{S}}.events e
        WHERE e.tx_id < v_horizon AND (e.tx_id, e.seq) > (g.cursor_tx, g.cursor_seq)
        ORDER BY e.tx_id, e.seq LIMIT p_scan
      ), filled AS (
        INSERT INTO {{S}}.deliveries (group_id, seq, subject, available_at)
        SELECT p_group, s.seq, s.subject, coalesce(s.deliver_at, now()) FROM scanned s
        WHERE starts_with(s.type, g.type_prefix) AND s.type ~ g.pattern_regex
          AND (g.start_snapshot IS NULL OR NOT pg_visible_in_snapshot(s.tx_id, g.start_snapshot))
        ON CONFLICT DO NOTHING
      )
      SELECT count(*)::integer, (SELECT l.tx_id FROM scanned l ORDER BY l.tx_id DESC, l.seq DESC LIMIT 1),
             (SELECT l.seq FROM scanned l ORDER BY l.tx_id DESC, l.seq DESC LIMIT 1)
      INTO v_scanned, v_last_tx, v_last_seq FROM scanned;
      IF v_scanned > 0 THEN
        UPDATE {{S}}.groups SET cursor_tx = v_last_tx, cursor_seq = v_last_seq WHERE id = p_group;
        g.cursor_tx := v_last_tx; g.cursor_seq := v_last_seq;
      END IF;
      IF v_scanned >= p_scan THEN
        v_hint := 'more';
      ELSIF EXISTS (SELECT 1 FROM {{S}}.events e WHERE e.tx_id >= v_horizon AND (e.tx_id, e.seq) > (g.cursor_tx, g.cursor_seq)) THEN
        v_hint := 'soon';
      END IF;
    END IF;
  END IF;

  RETURN QUERY
  WITH picked AS (
    SELECT d.seq FROM {{S}}.deliveries d
    WHERE d.group_id = p_group AND d.available_at <= now()
      AND (NOT p_ordered OR d.subject IS NULL OR NOT EXISTS (
        SELECT 1 FROM {{S}}.deliveries o WHERE o.group_id = p_group AND o.subject = d.subject AND o.seq < d.seq))
    ORDER BY d.available_at, d.seq
    LIMIT p_limit
    FOR UPDATE SKIP LOCKED
  ), leased AS (
    UPDATE {{S}}.deliveries d SET available_at = now() + p_lease_ms * interval '1 millisecond', attempt = d.attempt + 1
    FROM picked WHERE d.group_id = p_group AND d.seq = picked.seq
    RETURNING d.seq, d.attempt
  )
  SELECT l.seq, l.attempt, {{S}}.envelope_text(e), v_hint, NULL::integer
  FROM leased l JOIN {{S}}.events e ON e.seq = l.seq
  ORDER BY l.seq;
  GET DIAGNOSTICS v_taken = ROW_COUNT;
  IF v_taken = 0 THEN
    RETURN QUERY SELECT NULL::bigint, NULL::integer, NULL::text, v_hint,
      (SELECT greatest(0, ceil(extract(epoch FROM min(d.available_at) - now()) * 1000))::integer
       FROM {{S}}.deliveries d WHERE d.group_id = p_group AND d.available_at > now());
  END IF;
END $$;

-- Settles: each acts only while the delivery still carries the attempt it was handed out with, so a
-- consumer whose lease ran out and was re-claimed elsewhere cannot settle the new holder's copy.
-- Claims and settles commit asynchronously (synchronous_commit off for that transaction only): a crash
-- can lose the last few of them, which only means a redelivery (at-least-once), never a lost event,
-- while consumers stop waiting for a WAL flush on every claim and ack. publish stays fully durable.
CREATE OR REPLACE FUNCTION {{S}}.ack(p_group bigint, p_seqs bigint[], p_attempts integer[]) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_count integer;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  WITH done AS (
    DELETE FROM {{S}}.deliveries d USING unnest(p_seqs, p_attempts) AS a(seq, attempt)
    WHERE d.group_id = p_group AND d.seq = a.seq AND d.attempt = a.attempt RETURNING 1)
  SELECT count(*)::integer INTO v_count FROM done;
  RETURN v_count;
END $$;

CREATE OR REPLACE FUNCTION {{S}}.retry(p_group bigint, p_seq bigint, p_attempt integer, p_delay_ms integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_count integer;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  WITH moved AS (
    UPDATE {{S}}.deliveries SET available_at = now() + p_delay_ms * interval '1 millisecond'
    WHERE group_id = p_group AND seq = p_seq AND attempt = p_attempt RETURNING 1)
  SELECT count(*)::integer INTO v_count FROM moved;
  RETURN v_count;
END $$;

CREATE OR REPLACE FUNCTION {{S}}.touch(p_group bigint, p_seq bigint, p_attempt integer, p_lease_ms integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_count integer;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  WITH kept AS (
    UPDATE {{S}}.deliveries SET available_at = now() + p_lease_ms * interval '1 millisecond'
    WHERE group_id = p_group AND seq = p_seq AND attempt = p_attempt RETURNING 1)
  SELECT count(*)::integer INTO v_count FROM kept;
  RETURN v_count;
END $$;

-- Gives claimed-but-never-handed-out rows back at once, without counting an attempt (a subscription closed mid-claim).
CREATE OR REPLACE FUNCTION {{S}}.release(p_group bigint, p_seqs bigint[], p_attempts integer[]) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_count integer;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  WITH back AS (
    UPDATE {{S}}.deliveries d SET available_at = now(), attempt = d.attempt - 1
    FROM unnest(p_seqs, p_attempts) AS a(seq, attempt)
    WHERE d.group_id = p_group AND d.seq = a.seq AND d.attempt = a.attempt RETURNING 1)
  SELECT count(*)::integer INTO v_count FROM back;
  RETURN v_count;
END $$;

CREATE OR REPLACE FUNCTION {{S}}.dead_letter(p_group bigint, p_seq bigint, p_attempt integer, p_kind text, p_error text, p_attempts integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_count integer;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  WITH done AS (
    DELETE FROM {{S}}.deliveries WHERE group_id = p_group AND seq = p_seq AND attempt = p_attempt RETURNING group_id, seq),
  kept AS (
    INSERT INTO {{S}}.dead_letters (group_id, group_name, pattern, seq, event_id, kind, error, attempts)
    SELECT d.group_id, g.name, g.pattern, d.seq, e.id, p_kind, p_error, p_attempts
    FROM done d JOIN {{S}}.groups g ON g.id = d.group_id LEFT JOIN {{S}}.events e ON e.seq = d.seq
    RETURNING 1)
  SELECT count(*)::integer INTO v_count FROM kept;
  RETURN v_count;
END $$;

CREATE OR REPLACE FUNCTION {{S}}.dead_letter_list(p_group_name text, p_limit integer)
RETURNS TABLE (id bigint, group_name text, kind text, error text, attempts integer, failed_at text, envelope text) LANGUAGE sql STABLE AS $$
  SELECT d.id, d.group_name, d.kind, d.error, d.attempts,
         to_char(d.failed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), {{S}}.envelope_text(e)
  FROM {{S}}.dead_letters d LEFT JOIN {{S}}.events e ON e.seq = d.seq
  WHERE p_group_name IS NULL OR d.group_name = p_group_name
  ORDER BY d.id
  LIMIT p_limit
$$;

-- Hands dead letters back to the group they failed in (attempts restart at 1) and wakes its consumers.
CREATE OR REPLACE FUNCTION {{S}}.dead_letter_redrive(p_ids bigint[]) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_count integer; v_types text;
BEGIN
  WITH moved AS (
    DELETE FROM {{S}}.dead_letters d WHERE d.id = ANY (p_ids) AND d.group_id IS NOT NULL RETURNING d.group_id, d.seq),
  back AS (
    INSERT INTO {{S}}.deliveries (group_id, seq, subject, available_at, attempt)
    SELECT m.group_id, m.seq, e.subject, now(), 0 FROM moved m JOIN {{S}}.events e ON e.seq = m.seq
    ON CONFLICT DO NOTHING RETURNING seq)
  SELECT count(*)::integer, string_agg(DISTINCT e.type, ' ') INTO v_count, v_types
  FROM back b JOIN {{S}}.events e ON e.seq = b.seq;
  IF v_count > 0 THEN PERFORM pg_notify('{{CHANNEL}}', CASE WHEN octet_length(v_types) > 7000 THEN '*' ELSE v_types END); END IF;
  RETURN v_count;
END $$;

CREATE OR REPLACE FUNCTION {{S}}.dead_letter_purge(p_ids bigint[]) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_count integer;
BEGIN
  WITH gone AS (DELETE FROM {{S}}.dead_letters WHERE id = ANY (p_ids) RETURNING 1) SELECT count(*)::integer INTO v_count FROM gone;
  RETURN v_count;
END $$;

-- One page of the log for replay: events of a time range matching a pattern, after a sequence number.
CREATE OR REPLACE FUNCTION {{S}}.replay_page(p_from timestamptz, p_to timestamptz, p_regex text, p_prefix text, p_after bigint, p_limit integer)
RETURNS TABLE (seq bigint, envelope text) LANGUAGE sql STABLE AS $$
  SELECT e.seq, {{S}}.envelope_text(e) FROM {{S}}.events e
  WHERE e.time >= p_from AND e.time < p_to AND e.seq > p_after
    AND starts_with(e.type, p_prefix) AND e.type ~ p_regex
  ORDER BY e.seq
  LIMIT p_limit
$$;

-- Only the service role may call these (Supabase PostgREST RPC); anon and authenticated may not.
-- Named one by one: the schema may hold other objects, and tierbus changes the grants of its own only.
{{GRANTS}}
`

const COUNT_RANGE = String.raw`
-- How many events of a time range match a pattern (progress of a backfill or replay).
CREATE OR REPLACE FUNCTION {{S}}.count_range(p_from timestamptz, p_to timestamptz, p_regex text, p_prefix text)
RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT count(*) FROM {{S}}.events e
  WHERE e.time >= p_from AND e.time < p_to AND starts_with(e.type, p_prefix) AND e.type ~ p_regex
$$;
REVOKE ALL ON FUNCTION {{S}}.count_range(timestamptz, timestamptz, text, text) FROM PUBLIC;
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
    REVOKE ALL ON FUNCTION {{S}}.count_range(timestamptz, timestamptz, text, text) FROM anon;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    REVOKE ALL ON FUNCTION {{S}}.count_range(timestamptz, timestamptz, text, text) FROM authenticated;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
    GRANT EXECUTE ON FUNCTION {{S}}.count_range(timestamptz, timestamptz, text, text) TO service_role;
  END IF;
END $$;
`

const ORDERED_CLAIM = String.raw`
-- Unkeyed rows of a group in claim order: ordered claims find them without walking past keyed rows.
CREATE INDEX IF NOT EXISTS deliveries_unkeyed ON {{S}}.deliveries (group_id, available_at, seq) WHERE subject IS NULL;

-- The rows an ordered claim may take: unkeyed rows and the oldest pending row of each key, available
-- now, oldest first. Checking every available row against its key (one index probe each) walked the
-- whole backlog whenever the keys' oldest rows were in flight: ~300-500 ms per claim on PGlite, which
-- runs on the app's thread. So: look at a small window of the first available rows (in a fresh backlog
-- the keys' oldest rows are there), and only when that is not enough, skip-scan deliveries_key for each
-- key's oldest row (one probe per key, not per row).
CREATE OR REPLACE FUNCTION {{S}}.ordered_candidates(p_group bigint, p_limit integer) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
  v_window integer := greatest(p_limit * 2, 32);
  v_seen integer;
  v_heads bigint[];
BEGIN
  SELECT coalesce(array_agg(w.seq) FILTER (WHERE w.subject IS NULL OR NOT EXISTS (
           SELECT 1 FROM {{S}}.deliveries o WHERE o.group_id = p_group AND o.subject = w.subject AND o.seq < w.seq)), '{}'),
         count(*)
    INTO v_heads, v_seen
    FROM (SELECT d.seq, d.subject FROM {{S}}.deliveries d
          WHERE d.group_id = p_group AND d.available_at <= now()
          ORDER BY d.available_at, d.seq LIMIT v_window) w;
  IF cardinality(v_heads) >= p_limit OR v_seen < v_window THEN
    RETURN v_heads;
  END IF;
  WITH RECURSIVE lanes AS (
    (SELECT d.subject, d.seq, d.available_at FROM {{S}}.deliveries d
     WHERE d.group_id = p_group AND d.subject IS NOT NULL ORDER BY d.subject, d.seq LIMIT 1)
    UNION ALL
    SELECT n.subject, n.seq, n.available_at FROM lanes l CROSS JOIN LATERAL (
      SELECT d.subject, d.seq, d.available_at FROM {{S}}.deliveries d
      WHERE d.group_id = p_group AND d.subject IS NOT NULL AND d.subject > l.subject ORDER BY d.subject, d.seq LIMIT 1) n
  )
  SELECT v_heads || coalesce(array_agg(l.seq), '{}') INTO v_heads
  FROM lanes l WHERE l.available_at <= now() AND l.seq <> ALL (v_heads);
  SELECT v_heads || coalesce(array_agg(u.seq), '{}') INTO v_heads
  FROM (SELECT d.seq FROM {{S}}.deliveries d
        WHERE d.group_id = p_group AND d.subject IS NULL AND d.available_at <= now() AND d.seq <> ALL (v_heads)
        ORDER BY d.available_at, d.seq LIMIT p_limit) u;
  RETURN v_heads;
END $$;
REVOKE ALL ON FUNCTION {{S}}.ordered_candidates(bigint, integer) FROM PUBLIC;

-- claim, as in migration 2, with three changes: ordered claims pick from ordered_candidates (see above),
-- the checks for new events read the cursor index, and a lease runs from the moment the rows are leased (clock_timestamp), not from the start of the
-- claim, so a claim that took long (PGlite on a busy thread) does not hand out rows whose lease is
-- already running out.
CREATE OR REPLACE FUNCTION {{S}}.claim(p_group bigint, p_limit integer, p_lease_ms integer, p_ordered boolean, p_scan integer)
RETURNS TABLE (seq bigint, attempt integer, envelope text, hint text, next_in_ms integer) LANGUAGE plpgsql AS $$
DECLARE
  v_horizon xid8 := pg_snapshot_xmin(pg_current_snapshot());
  g {{S}}.groups%ROWTYPE;
  v_scanned integer := 0;
  v_last_tx xid8;
  v_last_seq bigint;
  v_hint text := 'idle';
  v_taken integer;
  v_picked bigint[];
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT * INTO g FROM {{S}}.groups WHERE id = p_group;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'tierbus group % does not exist (dropped?): subscribe again', p_group USING ERRCODE = 'P0002';
  END IF;
  -- In index order with LIMIT 1, so the planner reads events_cursor even without statistics (PGlite
  -- never runs autovacuum/ANALYZE), instead of scanning the whole log on every claim.
  PERFORM 1 FROM {{S}}.events e WHERE (e.tx_id, e.seq) > (g.cursor_tx, g.cursor_seq) ORDER BY e.tx_id, e.seq LIMIT 1;
  IF FOUND THEN
    SELECT * INTO g FROM {{S}}.groups WHERE id = p_group FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
      v_hint := 'soon';
    ELSE
      WITH scanned AS (
        SELECT e.seq, e.tx_id, e.type, e.subject, e.deliver_at FROM {{S}}.events e
        WHERE e.tx_id < v_horizon AND (e.tx_id, e.seq) > (g.cursor_tx, g.cursor_seq)
        ORDER BY e.tx_id, e.seq LIMIT p_scan
      ), filled AS (
        INSERT INTO {{S}}.deliveries (group_id, seq, subject, available_at)
        SELECT p_group, s.seq, s.subject, coalesce(s.deliver_at, now()) FROM scanned s
        WHERE starts_with(s.type, g.type_prefix) AND s.type ~ g.pattern_regex
          AND (g.start_snapshot IS NULL OR NOT pg_visible_in_snapshot(s.tx_id, g.start_snapshot))
        ON CONFLICT DO NOTHING
      )
      SELECT count(*)::integer, (SELECT l.tx_id FROM scanned l ORDER BY l.tx_id DESC, l.seq DESC LIMIT 1),
             (SELECT l.seq FROM scanned l ORDER BY l.tx_id DESC, l.seq DESC LIMIT 1)
      INTO v_scanned, v_last_tx, v_last_seq FROM scanned;
      IF v_scanned > 0 THEN
        UPDATE {{S}}.groups SET cursor_tx = v_last_tx, cursor_seq = v_last_seq WHERE id = p_group;
        g.cursor_tx := v_last_tx; g.cursor_seq := v_last_seq;
      END IF;
      IF v_scanned >= p_scan THEN
        v_hint := 'more';
      ELSE
        PERFORM 1 FROM {{S}}.events e WHERE e.tx_id >= v_horizon AND (e.tx_id, e.seq) > (g.cursor_tx, g.cursor_seq) ORDER BY e.tx_id, e.seq LIMIT 1;
        IF FOUND THEN v_hint := 'soon'; END IF;
      END IF;
    END IF;
  END IF;

  IF p_ordered THEN
    v_picked := {{S}}.ordered_candidates(p_group, p_limit);
    SELECT array_agg(p.seq) INTO v_picked FROM (
      SELECT d.seq FROM {{S}}.deliveries d
      WHERE d.group_id = p_group AND d.seq = ANY (v_picked) AND d.available_at <= now()
      ORDER BY d.available_at, d.seq LIMIT p_limit
      FOR UPDATE SKIP LOCKED) p;
  ELSE
    SELECT array_agg(p.seq) INTO v_picked FROM (
      SELECT d.seq FROM {{S}}.deliveries d
      WHERE d.group_id = p_group AND d.available_at <= now()
      ORDER BY d.available_at, d.seq LIMIT p_limit
      FOR UPDATE SKIP LOCKED) p;
  END IF;

  RETURN QUERY
  WITH leased AS (
    UPDATE {{S}}.deliveries d SET available_at = clock_timestamp() + p_lease_ms * interval '1 millisecond', attempt = d.attempt + 1
    WHERE d.group_id = p_group AND d.seq = ANY (coalesce(v_picked, '{}'))
    RETURNING d.seq, d.attempt
  )
  SELECT l.seq, l.attempt, {{S}}.envelope_text(e), v_hint, NULL::integer
  FROM leased l JOIN {{S}}.events e ON e.seq = l.seq
  ORDER BY l.seq;
  GET DIAGNOSTICS v_taken = ROW_COUNT;
  IF v_taken = 0 THEN
    RETURN QUERY SELECT NULL::bigint, NULL::integer, NULL::text, v_hint,
      (SELECT greatest(0, ceil(extract(epoch FROM min(d.available_at) - now()) * 1000))::integer
       FROM {{S}}.deliveries d WHERE d.group_id = p_group AND d.available_at > now());
  END IF;
END $$;
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
    REVOKE ALL ON FUNCTION {{S}}.ordered_candidates(bigint, integer) FROM anon;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    REVOKE ALL ON FUNCTION {{S}}.ordered_candidates(bigint, integer) FROM authenticated;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
    GRANT EXECUTE ON FUNCTION {{S}}.ordered_candidates(bigint, integer) TO service_role;
  END IF;
END $$;
`

const FAN_OUT = String.raw`
-- Fan-out at write time (migration 6). Before: a group kept a cursor over events in (tx_id, seq) order and read only rows
-- of transactions older than the oldest running one, so one open writing transaction (a publisher, or a
-- claim) held every newer event back. Now the insert itself writes one deliveries row per matching group,
-- in the publishing transaction: an event that commits late simply becomes claimable when it commits, and
-- claims never wait for other transactions. A group created while events exist copies the older ones in
-- steps (backfill_seq up to backfill_to) when it starts from 'earliest'.
ALTER TABLE {{S}}.groups ADD COLUMN IF NOT EXISTS backfill_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE {{S}}.groups ADD COLUMN IF NOT EXISTS backfill_to bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN {{S}}.groups.backfill_to IS
  'events up to this seq predate the group: copied into deliveries in steps, after backfill_seq';

-- An existing install: each group's events beyond its cursor are copied now, while no transaction writes
-- events (the SHARE lock waits for running writers and holds new ones until this migration commits).
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM information_schema.columns
             WHERE table_schema = '{{SCHEMA}}' AND table_name = 'groups' AND column_name = 'cursor_tx') THEN
    LOCK TABLE {{S}}.events IN SHARE MODE;
    EXECUTE $q$
      INSERT INTO {{S}}.deliveries (group_id, seq, subject, available_at)
      SELECT g.id, e.seq, e.subject, coalesce(e.deliver_at, now())
      FROM {{S}}.groups g JOIN {{S}}.events e ON (e.tx_id, e.seq) > (g.cursor_tx, g.cursor_seq)
      WHERE starts_with(e.type, g.type_prefix) AND e.type ~ g.pattern_regex
        AND (g.start_snapshot IS NULL OR NOT pg_visible_in_snapshot(e.tx_id, g.start_snapshot))
      ON CONFLICT DO NOTHING $q$;
    UPDATE {{S}}.groups SET backfill_seq = s.edge, backfill_to = s.edge
      FROM (SELECT coalesce(max(seq), 0) AS edge FROM {{S}}.events) s;
    ALTER TABLE {{S}}.groups DROP COLUMN cursor_tx, DROP COLUMN cursor_seq, DROP COLUMN start_snapshot;
  END IF;
END $$;
-- Nothing reads events in (tx_id, seq) order any more: one index less to write per event.
DROP INDEX IF EXISTS {{S}}.events_cursor;

-- No foreign key from deliveries to groups: a publisher checking it would lock the group row for every
-- delivery it writes, and a group dropped while a publisher fans out would fail that publish. drop_group
-- deletes a group's deliveries itself; rows a racing publisher wrote for a dropped group are removed by prune.
DO $$ DECLARE v_fk text; BEGIN
  FOR v_fk IN SELECT conname FROM pg_constraint
              WHERE conrelid = '{{S}}.deliveries'::regclass AND contype = 'f' LOOP
    EXECUTE format('ALTER TABLE {{S}}.deliveries DROP CONSTRAINT %I', v_fk);
  END LOOP;
END $$;
CREATE INDEX IF NOT EXISTS dead_letters_seq ON {{S}}.dead_letters (seq);

-- After every INSERT statement into events (publish, publishInTransaction, or a producer with table
-- access): one deliveries row per (new event, matching group), then one NOTIFY with the distinct types.
CREATE OR REPLACE FUNCTION {{S}}.events_written() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v_types text;
BEGIN
${FAN_OUT_NEW_EVENTS}
${NOTIFY_NEW_TYPES}
END $$;
{{TRIGGER_GRANTS}}
DROP TRIGGER IF EXISTS events_notify ON {{S}}.events;
DROP FUNCTION IF EXISTS {{S}}.notify_events();
CREATE OR REPLACE TRIGGER events_written AFTER INSERT ON {{S}}.events
  REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION {{S}}.events_written();

-- Creates the group (name, pattern) if missing and returns its id. Creating one takes a SHARE lock on
-- events: it waits for transactions writing events to end and holds new writers until it commits, so
-- every event up to max(seq) is committed and every later insert sees the group and fans out to it.
-- 'latest' starts after those events; 'earliest' copies them in steps (claim) before or beside the new ones.
CREATE OR REPLACE FUNCTION {{S}}.register_group(
  p_name text, p_pattern text, p_regex text, p_prefix text, p_start text, p_ephemeral boolean)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_id bigint; v_edge bigint;
BEGIN
  SELECT g.id INTO v_id FROM {{S}}.groups g WHERE g.name = p_name AND g.pattern = p_pattern;
  IF FOUND THEN RETURN v_id; END IF;
  LOCK TABLE {{S}}.events IN SHARE MODE;
  SELECT coalesce(max(e.seq), 0) INTO v_edge FROM {{S}}.events e;
  INSERT INTO {{S}}.groups AS g (name, pattern, pattern_regex, type_prefix, backfill_seq, backfill_to, ephemeral)
  VALUES (p_name, p_pattern, p_regex, p_prefix,
          CASE WHEN p_start = 'earliest' THEN 0 ELSE v_edge END, v_edge, p_ephemeral)
  ON CONFLICT (name, pattern) DO UPDATE SET ephemeral = g.ephemeral
  RETURNING g.id INTO v_id;
  RETURN v_id;
END $$;

CREATE OR REPLACE FUNCTION {{S}}.drop_group(p_group bigint) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_count integer;
BEGIN
  DELETE FROM {{S}}.deliveries WHERE group_id = p_group;
  WITH gone AS (DELETE FROM {{S}}.groups WHERE id = p_group RETURNING 1)
  SELECT count(*)::integer INTO v_count FROM gone;
  RETURN v_count;
END $$;

-- Claims up to p_limit due deliveries for one member of a group, leasing them for p_lease_ms (from the
-- moment of leasing). A group still copying its older events (backfill) first copies up to p_scan of
-- them; a member that finds another one copying skips that step (SKIP LOCKED). The due rows are taken
-- with FOR UPDATE SKIP LOCKED: members never wait for each other, nor for any other transaction.
-- Ordered claims pick each key's oldest pending row (ordered_candidates), and while a backfill runs only
-- rows already behind it (a key's older events may still be uncopied). Returns the leased rows; when there
-- are none, one row with seq NULL whose hint says when to look again: 'more' (at once: backfill left),
-- 'soon' (another member is copying), 'idle' (wait for a notification), and next_in_ms (the next
-- delayed / retrying / leased row).
--
-- deliveries now holds a group's whole backlog, and its size swings between empty and large faster than
-- statistics follow (PGlite never collects any): planned from "nearly empty" stats, the pick becomes a
-- bitmap scan of the whole backlog plus a sort (~45 ms per claim at 20,000 pending rows, seen here).
-- So the queries that find due rows run with enable_sort off: they read deliveries_due (or, for ordered
-- claims, deliveries_key) in index order and stop after the first rows, whatever the statistics say.
CREATE OR REPLACE FUNCTION {{S}}.claim(
  p_group bigint, p_limit integer, p_lease_ms integer, p_ordered boolean, p_scan integer)
RETURNS TABLE (seq bigint, attempt integer, envelope text, hint text, next_in_ms integer) LANGUAGE plpgsql AS $$
DECLARE
  v_sort text := current_setting('enable_sort');
  g {{S}}.groups%ROWTYPE;
  v_hint text := 'idle';
  v_scanned integer;
  v_last bigint;
  v_picked bigint[];
  v_rows tid[];
  v_taken integer;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT * INTO g FROM {{S}}.groups WHERE id = p_group;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'tierbus group % does not exist (dropped?): subscribe again', p_group USING ERRCODE = 'P0002';
  END IF;
  IF g.backfill_seq < g.backfill_to THEN
    SELECT * INTO g FROM {{S}}.groups WHERE id = p_group FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
      v_hint := 'soon';
    ELSIF g.backfill_seq < g.backfill_to THEN
      WITH scanned AS (
        SELECT e.seq, e.type, e.subject, e.deliver_at FROM {{S}}.events e
        WHERE e.seq > g.backfill_seq AND e.seq <= g.backfill_to
        ORDER BY e.seq LIMIT p_scan
      ), filled AS (
        INSERT INTO {{S}}.deliveries (group_id, seq, subject, available_at)
        SELECT p_group, s.seq, s.subject, coalesce(s.deliver_at, now()) FROM scanned s
        WHERE starts_with(s.type, g.type_prefix) AND s.type ~ g.pattern_regex
        ON CONFLICT DO NOTHING
      )
      SELECT count(*)::integer, max(s.seq) INTO v_scanned, v_last FROM scanned s;
      g.backfill_seq := CASE WHEN v_scanned < p_scan THEN g.backfill_to ELSE v_last END;
      UPDATE {{S}}.groups SET backfill_seq = g.backfill_seq WHERE id = p_group;
      IF g.backfill_seq < g.backfill_to THEN v_hint := 'more'; END IF;
    END IF;
  END IF;

  PERFORM set_config('enable_sort', 'off', true);
  IF p_ordered THEN
    v_picked := {{S}}.ordered_candidates(p_group, p_limit);
    PERFORM set_config('enable_sort', v_sort, true);
    SELECT array_agg(p.ctid) INTO v_rows FROM (
      SELECT d.ctid FROM unnest(v_picked) WITH ORDINALITY AS c(seq, pos)
      JOIN {{S}}.deliveries d ON d.group_id = p_group AND d.seq = c.seq
      WHERE d.available_at <= now() AND (g.backfill_seq >= g.backfill_to OR d.seq <= g.backfill_seq)
      ORDER BY c.pos LIMIT p_limit
      FOR UPDATE OF d SKIP LOCKED) p;
  ELSE
    SELECT array_agg(p.ctid) INTO v_rows FROM (
      SELECT d.ctid FROM {{S}}.deliveries d
      WHERE d.group_id = p_group AND d.available_at <= now()
      ORDER BY d.available_at, d.seq LIMIT p_limit
      FOR UPDATE SKIP LOCKED) p;
    PERFORM set_config('enable_sort', v_sort, true);
  END IF;

  -- The picked rows are locked, so their ctids hold until commit: the lease is a TID scan, whatever the
  -- statistics (an UPDATE by seq = ANY (...) was planned as a scan of the group's whole backlog).
  RETURN QUERY
  WITH leased AS (
    UPDATE {{S}}.deliveries d
    SET available_at = clock_timestamp() + p_lease_ms * interval '1 millisecond', attempt = d.attempt + 1
    WHERE d.ctid = ANY (coalesce(v_rows, '{}'))
    RETURNING d.seq, d.attempt
  )
  SELECT l.seq, l.attempt, {{S}}.envelope_text(e), v_hint, NULL::integer
  FROM leased l JOIN {{S}}.events e ON e.seq = l.seq
  ORDER BY l.seq;
  GET DIAGNOSTICS v_taken = ROW_COUNT;
  IF v_taken = 0 THEN
    RETURN QUERY SELECT NULL::bigint, NULL::integer, NULL::text, v_hint,
      (SELECT greatest(0, ceil(extract(epoch FROM min(d.available_at) - now()) * 1000))::integer
       FROM {{S}}.deliveries d WHERE d.group_id = p_group AND d.available_at > now());
  END IF;
END $$;

-- Settles of many rows: one primary-key statement per row. Set-based forms (a join with unnest, or
-- seq = ANY (...)) were planned from stale statistics as a scan of the group's whole backlog.
CREATE OR REPLACE FUNCTION {{S}}.ack(p_group bigint, p_seqs bigint[], p_attempts integer[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_count integer := 0; v_one integer;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  FOR i IN 1 .. coalesce(cardinality(p_seqs), 0) LOOP
    DELETE FROM {{S}}.deliveries WHERE group_id = p_group AND seq = p_seqs[i] AND attempt = p_attempts[i];
    GET DIAGNOSTICS v_one = ROW_COUNT;
    v_count := v_count + v_one;
  END LOOP;
  RETURN v_count;
END $$;

CREATE OR REPLACE FUNCTION {{S}}.release(p_group bigint, p_seqs bigint[], p_attempts integer[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_count integer := 0; v_one integer;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  FOR i IN 1 .. coalesce(cardinality(p_seqs), 0) LOOP
    UPDATE {{S}}.deliveries SET available_at = now(), attempt = attempt - 1
    WHERE group_id = p_group AND seq = p_seqs[i] AND attempt = p_attempts[i];
    GET DIAGNOSTICS v_one = ROW_COUNT;
    v_count := v_count + v_one;
  END LOOP;
  RETURN v_count;
END $$;

-- The functions on the hot path read deliveries and events by index only. Their plans are cached per
-- session, often from the first call, when the tables were nearly empty: a sequential or bitmap scan or a
-- hash join planned then (seen here: a seq scan of events joined by hash for every claim) costs the whole
-- table once the backlog grows. These settings, for these functions only, keep every plan on the indexes.
ALTER FUNCTION {{S}}.claim(bigint, integer, integer, boolean, integer) {{INDEX_ONLY}};
ALTER FUNCTION {{S}}.ordered_candidates(bigint, integer) {{INDEX_ONLY}};
ALTER FUNCTION {{S}}.ack(bigint, bigint[], integer[]) {{INDEX_ONLY}};
ALTER FUNCTION {{S}}.release(bigint, bigint[], integer[]) {{INDEX_ONLY}};
ALTER FUNCTION {{S}}.retry(bigint, bigint, integer, integer) {{INDEX_ONLY}};
ALTER FUNCTION {{S}}.touch(bigint, bigint, integer, integer) {{INDEX_ONLY}};
ALTER FUNCTION {{S}}.dead_letter(bigint, bigint, integer, text, text, integer) {{INDEX_ONLY}};
`

const RETENTION = String.raw`
-- Retention: one step of pruning the log. Deletes up to p_batch events after seq p_after that the policy
-- marks (created more than p_max_age_ms ago, or older than the newest p_max_events sequence numbers) and
-- that nothing still needs: every event from the oldest one a group has pending (not acked or dead-lettered
-- yet), or has still to copy (backfill), onwards is kept, and so is every event a dead letter refers to.
-- That bound is read in the same statement (one snapshot) as the delete, so an event whose transaction
-- commits meanwhile is either seen with its pending deliveries or not seen at all. The first step of a run
-- (p_after 0) also removes deliveries of dropped groups. Walks the primary key: a step costs the rows it
-- visits, not the size of the table. Returns the rows deleted, the position to continue from, whether the
-- run is done, and the group (and seq) holding pruning back when it stopped at a pending event.
CREATE OR REPLACE FUNCTION {{S}}.prune(p_after bigint, p_max_age_ms bigint, p_max_events bigint, p_batch integer)
RETURNS TABLE (deleted integer, last_seq bigint, done boolean, held_by text, held_seq bigint) LANGUAGE plpgsql AS $$
DECLARE
  v_cutoff timestamptz := CASE WHEN p_max_age_ms IS NULL THEN '-infinity'::timestamptz
                               ELSE now() - p_max_age_ms * interval '1 millisecond' END;
  v_size bigint := 0;
  v_rows integer;
  v_due integer;
  v_last bigint;
  v_held text;
  v_safe bigint;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  IF p_after = 0 THEN
    DELETE FROM {{S}}.deliveries d WHERE NOT EXISTS (SELECT 1 FROM {{S}}.groups g WHERE g.id = d.group_id);
  END IF;
  IF p_max_events IS NOT NULL THEN
    SELECT coalesce(max(e.seq), 0) - p_max_events INTO v_size FROM {{S}}.events e;
  END IF;
  WITH need AS (
    SELECT g.name, least((SELECT min(d.seq) FROM {{S}}.deliveries d WHERE d.group_id = g.id),
                         CASE WHEN g.backfill_seq < g.backfill_to THEN g.backfill_seq + 1 END) AS seq
    FROM {{S}}.groups g
  ), safe AS (
    SELECT n.name, n.seq FROM need n WHERE n.seq IS NOT NULL ORDER BY n.seq LIMIT 1
  ), batch AS (
    SELECT e.seq, (e.created_at < v_cutoff OR e.seq <= v_size) AS due FROM {{S}}.events e
    WHERE e.seq > p_after AND e.seq < coalesce((SELECT s.seq FROM safe s), 9223372036854775807)
    ORDER BY e.seq LIMIT p_batch
  ), gone AS (
    DELETE FROM {{S}}.events e USING batch b
    WHERE e.seq = b.seq AND b.due AND NOT EXISTS (SELECT 1 FROM {{S}}.dead_letters l WHERE l.seq = b.seq)
    RETURNING 1
  )
  SELECT (SELECT count(*)::integer FROM gone), count(*)::integer, count(*) FILTER (WHERE b.due)::integer, max(b.seq),
         (SELECT s.name FROM safe s), (SELECT s.seq FROM safe s)
    INTO deleted, v_rows, v_due, v_last, v_held, v_safe
    FROM batch b;
  last_seq := coalesce(v_last, p_after);
  -- Events are visited by seq, about the order they were created in: a step with nothing due reached the young end.
  done := v_rows < p_batch OR v_due = 0;
  IF v_rows < p_batch AND v_safe IS NOT NULL THEN
    SELECT CASE WHEN (e.created_at < v_cutoff OR e.seq <= v_size) THEN v_held END, e.seq INTO held_by, held_seq
    FROM {{S}}.events e WHERE e.seq >= v_safe ORDER BY e.seq LIMIT 1;
    IF held_by IS NULL THEN held_seq := NULL; END IF;
  END IF;
  RETURN NEXT;
END $$;
{{PRUNE_GRANTS}}
`

// Migration 8: no NOTIFY for a statement that wrote no deliveries (no group matched its events). Only
// subscriptions listen, and they wake for deliveries; a group created later copies older events itself
// (backfill), so nothing waits for such a notification. Saves a NOTIFY per publish nobody consumes, and the
// wake-ups of listeners whose patterns never match.
const QUIET_NOTIFY = String.raw`
CREATE OR REPLACE FUNCTION {{S}}.events_written() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v_types text; v_written integer;
BEGIN
${FAN_OUT_NEW_EVENTS}
  GET DIAGNOSTICS v_written = ROW_COUNT;
  IF v_written = 0 THEN RETURN NULL; END IF;
${NOTIFY_NEW_TYPES}
END $$;
`

/** The tables tierbus creates in its schema (migration 1 and the prelude). */
const PAYLOADS = String.raw`
-- Claim-check bodies (events too big for a row of their own): the JSON text of the data, kept until
-- expires_at. Each put also removes up to 100 expired bodies, so the table stays bounded without a job.
CREATE TABLE IF NOT EXISTS {{S}}.payloads (
  id         text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
  body       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
COMMENT ON TABLE {{S}}.payloads IS 'tierbus: claim-check bodies of big events, kept until expires_at';
CREATE INDEX IF NOT EXISTS payloads_expiry ON {{S}}.payloads (expires_at);
ALTER TABLE {{S}}.payloads ENABLE ROW LEVEL SECURITY;

CREATE OR REPLACE FUNCTION {{S}}.payload_put(p_id text, p_body text, p_ttl_ms bigint)
RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM {{S}}.payloads WHERE id IN (
    SELECT id FROM {{S}}.payloads WHERE expires_at < now() ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED);
  INSERT INTO {{S}}.payloads (id, body, expires_at)
  VALUES (p_id, p_body, now() + make_interval(secs => p_ttl_ms / 1000.0))
  ON CONFLICT (id) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at;
  RETURN 1;
END $$;

CREATE OR REPLACE FUNCTION {{S}}.payload_get(p_id text)
RETURNS text LANGUAGE sql STABLE AS $$
  SELECT body FROM {{S}}.payloads WHERE id = p_id AND expires_at > now()
$$;
{{GRANTS}}
`

const OWN_TABLES = ['events', 'groups', 'deliveries', 'dead_letters', 'migrations'] as const
/** The functions of migrations 1 and 2 (names are unique in the schema, so no argument lists are needed). */
const OWN_FUNCTIONS = [
  'notify_events',
  'envelope_text',
  'publish',
  'register_group',
  'drop_group',
  'claim',
  'ack',
  'retry',
  'touch',
  'release',
  'dead_letter',
  'dead_letter_list',
  'dead_letter_redrive',
  'dead_letter_purge',
  'replay_page',
] as const

/**
 * REVOKE from PUBLIC / anon / authenticated and GRANT to service_role, on tierbus's tables and functions
 * by name: never `ALL TABLES IN SCHEMA`, which would also change the app's objects.
 */
function grantsSql(tables: readonly string[], functions: readonly string[]): string {
  const t = tables.map((n) => `{{S}}.${n}`).join(', ')
  const f = functions.map((n) => `{{S}}.${n}`).join(', ')
  return `REVOKE ALL ON TABLE ${t} FROM PUBLIC;
REVOKE ALL ON FUNCTION ${f} FROM PUBLIC;
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
    REVOKE ALL ON TABLE ${t} FROM anon;
    REVOKE ALL ON FUNCTION ${f} FROM anon;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    REVOKE ALL ON TABLE ${t} FROM authenticated;
    REVOKE ALL ON FUNCTION ${f} FROM authenticated;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
    GRANT USAGE ON SCHEMA {{S}} TO service_role;
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE ${t} TO service_role;
    GRANT EXECUTE ON FUNCTION ${f} TO service_role;
  END IF;
END $$;`
}

/** Planner settings of the hot-path functions (migration 6): index scans and nested loops only. */
const INDEX_ONLY = ['enable_seqscan', 'enable_bitmapscan', 'enable_hashjoin', 'enable_mergejoin']
  .map((setting) => `SET ${setting} = off`)
  .join(' ')

/**
 * REVOKE from PUBLIC / anon / authenticated and GRANT EXECUTE to service_role on functions given with
 * their argument types (migrations after 2; a trigger function is only revoked: nobody calls it).
 */
function functionGrantsSql(signatures: readonly string[], grant: boolean): string {
  const f = signatures.map((n) => `{{S}}.${n}`).join(', ')
  const serviceRole = `
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
    GRANT EXECUTE ON FUNCTION ${f} TO service_role;
  END IF;`
  return `REVOKE ALL ON FUNCTION ${f} FROM PUBLIC;
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
    REVOKE ALL ON FUNCTION ${f} FROM anon;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    REVOKE ALL ON FUNCTION ${f} FROM authenticated;
  END IF;${grant ? serviceRole : ''}
END $$;`
}

/**
 * Every migration, in order. Never change what a released one does: add a new version. (Version 2 once
 * granted with `ALL ... IN SCHEMA`; on a schema holding only tierbus's objects, which `migrate` now
 * guarantees, the by-name grants do the same.)
 */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  { version: 1, name: 'tables, indexes, row level security, notify trigger', sql: TABLES },
  {
    version: 2,
    name: 'functions (publish, claim, settle, dead letters, replay) and grants',
    sql: FUNCTIONS.replace('{{GRANTS}}', () => grantsSql(OWN_TABLES, OWN_FUNCTIONS)),
  },
  { version: 3, name: 'count_range (backfill progress)', sql: COUNT_RANGE },
  {
    version: 4,
    name: 'ordered claims by key heads (no backlog walk), leases from the moment of leasing',
    sql: ORDERED_CLAIM,
  },
  {
    version: 5,
    name: 'payloads (claim-check bodies of big events)',
    sql: PAYLOADS.replace('{{GRANTS}}', () => grantsSql(['payloads'], ['payload_put', 'payload_get'])),
  },
  {
    version: 6,
    name: 'fan-out into deliveries at write time (claims never wait on other transactions)',
    sql: FAN_OUT.replace('{{TRIGGER_GRANTS}}', () => functionGrantsSql(['events_written()'], false)).replaceAll(
      '{{INDEX_ONLY}}',
      INDEX_ONLY,
    ),
  },
  {
    version: 7,
    name: 'retention: prune, never past an event a group still needs',
    sql: RETENTION.replace('{{PRUNE_GRANTS}}', () =>
      functionGrantsSql(['prune(bigint, bigint, bigint, integer)'], true),
    ),
  },
  { version: 8, name: 'no NOTIFY for events no group receives', sql: QUIET_NOTIFY },
])

/** The SQL of every migration for `schema`, e.g. to paste into a Supabase migration file. */
export function migrationSql(schema: string): string {
  return [
    schemaPrelude(schema),
    ...MIGRATIONS.map((m) => `-- tierbus migration ${m.version}: ${m.name}\n${render(m.sql, schema)}`),
  ].join('\n')
}

function schemaPrelude(schema: string): string {
  const S = quoteSchema(schema)
  return `CREATE SCHEMA IF NOT EXISTS ${S};
CREATE TABLE IF NOT EXISTS ${S}.migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
COMMENT ON TABLE ${S}.migrations IS '${OWNED_MARK} applied tierbus migrations';
ALTER TABLE ${S}.migrations ENABLE ROW LEVEL SECURITY;
`
}

function render(sql: string, schema: string): string {
  assertSchemaName(schema)
  return sql
    .replaceAll('{{S}}', quoteSchema(schema))
    .replaceAll('{{SCHEMA}}', schema)
    .replaceAll('{{CHANNEL}}', channelOf(schema))
}

/** Anything migrations can run on: a pg Pool or Client, a PGlite instance, or a PGlite transaction. */
export interface MigratableDb {
  query(text: string, params?: unknown[]): Promise<unknown>
}

/** Result of `migrate`. */
export interface MigrateResult {
  readonly schema: string
  /** Versions applied by this call (empty when the schema was up to date). */
  readonly applied: readonly number[]
}

/** Runs SQL inside `migrate`'s transaction. */
export interface SqlRunner {
  /** Runs one or more statements without parameters. */
  exec(text: string): Promise<void>
  query(text: string, params: unknown[]): Promise<Array<Record<string, unknown>>>
}

/**
 * Creates or upgrades the tierbus schema: applies every missing migration in one transaction, under an
 * advisory lock so concurrent starts do not race. Safe to call on every start (it is a no-op when up to date).
 */
export async function migrate(db: MigratableDb, options: { schema?: string } = {}): Promise<MigrateResult> {
  const schema = options.schema ?? 'tierbus'
  assertSchemaName(schema)
  try {
    return await inTransaction(db, async (run) => {
      await run.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`tierbus.migrate.${schema}`])
      await assertOwnSchema(run, schema)
      await run.exec(schemaPrelude(schema))
      const rows = await run.query(`SELECT version FROM ${quoteSchema(schema)}.migrations`, [])
      const done = new Set(rows.map((r) => Number(r.version)))
      const applied: number[] = []
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue
        await run.exec(render(m.sql, schema))
        await run.query(`INSERT INTO ${quoteSchema(schema)}.migrations (version, name) VALUES ($1, $2)`, [
          m.version,
          m.name,
        ])
        applied.push(m.version)
      }
      return { schema, applied }
    })
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new TransportError(
      `migrating tierbus schema "${schema}" failed: ${(err as Error).message}. Check that the database is reachable and the user may CREATE in it`,
      { cause: err, retryable: false },
    )
  }
}

type Queryish = { query(text: string, params?: unknown[]): Promise<unknown>; exec?: (text: string) => Promise<unknown> }

function runnerOf(db: Queryish): SqlRunner {
  return {
    exec: async (text) => {
      // PGlite runs multi-statement text with exec(); pg runs it with a parameterless query().
      if (typeof db.exec === 'function') await db.exec(text)
      else await db.query(text)
    },
    query: async (text, params) => ((await db.query(text, params)) as { rows: Array<Record<string, unknown>> }).rows,
  }
}

async function inTransaction<T>(db: MigratableDb, fn: (run: SqlRunner) => Promise<T>): Promise<T> {
  const any = db as MigratableDb & {
    connect?: () => Promise<Queryish & { release(err?: boolean): void }>
    transaction?: <R>(cb: (tx: Queryish) => Promise<R>) => Promise<R>
  }
  if (typeof any.transaction === 'function') return any.transaction((tx) => fn(runnerOf(tx)))
  // A pg Pool hands out a client so BEGIN and COMMIT run on one connection; a Client is used as is.
  const pooled = typeof any.connect === 'function' && 'totalCount' in any ? await any.connect() : undefined
  const client: Queryish = pooled ?? any
  let failed = false
  try {
    await client.query('BEGIN')
    const result = await fn(runnerOf(client))
    await client.query('COMMIT')
    return result
  } catch (err) {
    failed = true
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    pooled?.release(failed)
  }
}
