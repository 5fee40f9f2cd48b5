import {
  assertPublishable,
  type Capabilities,
  ConfigError,
  type DeadLetter,
  type DeadLetterKind,
  type DeadLetterStore,
  type Delivery,
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  type PayloadStore,
  type Subscription,
  type SubscriptionSpec,
  type Transport,
  TransportError,
  type TransportErrorContext,
  type TransportErrorListener,
  tryDecodeEnvelope,
  ValidationError,
} from '@tierbus/core'
import {
  type AckCoalescer,
  positiveInt as assertPositiveInt,
  ConnectionState,
  type ConnectionStateOptions,
  type PublishDeadlineOptions,
  resolvePublishTimeout,
  warnErrorListener,
  withDeadline,
} from '@tierbus/core/adapter'
import { type RowAck, rowAckCoalescer } from './ack-buffer.js'
import type { DbDriver } from './driver.js'
import { observedDriver } from './observed-driver.js'
import { sqlPattern } from './patterns.js'
import { type DbPayloadStoreOptions, dbPayloadStore } from './payload-store.js'
import {
  type AutoRetention,
  checkRetention,
  type PruneResult,
  pruneEvents,
  RETENTION_DEFAULTS,
  type RetentionPolicy,
} from './retention.js'
import { COLUMN_ATTRIBUTES, type EventRow } from './statements.js'
import { DbSubscription, type SubscriptionHost } from './subscription.js'

/** Tier 1 capabilities: durable log, replay, per-key order, delays; 1 MiB envelopes (rows stay TOAST-friendly and fit PostgREST bodies). */
export const DB_REALTIME_CAPABILITIES: Capabilities = Object.freeze({
  persistent: true,
  replay: true,
  ordering: 'per-key',
  delay: true,
  maxPayloadBytes: 1_048_576,
})

/** Options shared by every driver of the db-realtime transport. */
export interface DbTransportOptions extends ConnectionStateOptions, PublishDeadlineOptions {
  /** Schema holding the tierbus tables and functions (validated identifier). */
  schema?: string
  /** Fallback polling interval: every subscription claims at least this often, push or not. */
  pollIntervalMs?: number
  /** Use the push channel (LISTEN/NOTIFY or Realtime); false = polling only. */
  push?: boolean
  /** Events a claim scans past a group's cursor at most (bounds one claim's work). */
  scanLimit?: number
  /** Apply the migrations at startup (pg and PGlite; Supabase projects apply `migrationSql()` themselves). */
  migrate?: boolean
  /** Called with errors nobody awaits (a lost LISTEN connection, a failed poll); default: console.warn. */
  onError?: TransportErrorListener
  /**
   * Prune the events log by itself every `intervalMs` (default: never; events are kept for replay and audit).
   * Never removes an event a group still needs (see `RetentionPolicy`). `transport.prune()` runs it at once.
   */
  retention?: AutoRetention
}

/** Defaults of `DbTransportOptions`. */
export const DB_REALTIME_DEFAULTS = Object.freeze({
  schema: 'tierbus',
  pollIntervalMs: 1_000,
  push: true,
  scanLimit: 1_000,
  migrate: true,
  /** Envelopes per `publish` call sent in one INSERT. */
  publishChunk: 1_000,
})

/**
 * Encodes an envelope for a jsonb column. Postgres cannot store the NUL character in jsonb strings
 * (error 22P05), so such an event is refused before any write, with what to do, instead of failing
 * the whole batch with a database error that looks retryable.
 */
export function encodeForJsonb(envelope: Envelope, maxBytes: number, tier: string): string {
  assertPublishable(envelope)
  const text = encodeEnvelope(envelope, maxBytes, tier)
  if (text.includes('\\u0000')) {
    throw new ValidationError(
      `event '${envelope.type}' (${envelope.id}) contains the NUL character (\\u0000) in a string: Postgres cannot store it in jsonb; strip it before publishing, or base64-encode binary data`,
      [{ path: 'data', message: 'contains \\u0000' }],
    )
  }
  return text
}

/**
 * One envelope as the columns of its events row (what the `publish` SQL function extracts from its JSON), after
 * the checks of `encodeForJsonb`: the single-event publish path sends these instead of a JSON array to decode.
 */
export function eventRowOf(envelope: Envelope, maxBytes: number, tier: string): EventRow {
  const extras: Record<string, unknown> = {}
  for (const key in envelope) {
    if (!COLUMN_ATTRIBUTES.has(key)) extras[key] = (envelope as unknown as Record<string, unknown>)[key]
  }
  const data = envelope.data === undefined ? null : JSON.stringify(envelope.data)
  const extrasText = JSON.stringify(extras)
  const attrs = [envelope.id, envelope.source, envelope.time, envelope.subject].map((v) => String(v ?? ''))
  // The parts are stringified once, here. Only when they might be near the size limit (an attribute's JSON is at
  // most 6 characters per character, plus < 256 of names and quotes) or hold a NUL does the whole envelope get
  // encoded, so that the verdict and the error are exactly those of every other publish path.
  const attrChars = attrs.reduce((n, v) => n + v.length, 0)
  if (
    ((data?.length ?? 0) + extrasText.length + 6 * attrChars + 256) * 3 > maxBytes ||
    data?.includes('\\u0000') ||
    extrasText.includes('\\u0000') ||
    attrs.some((v) => v.includes('\u0000'))
  )
    encodeForJsonb(envelope, maxBytes, tier)
  else assertPublishable(envelope)
  const deliverAt = typeof envelope.deliverat === 'string' ? envelope.deliverat : null
  return [
    envelope.id,
    envelope.type,
    envelope.subject ?? null,
    envelope.source,
    envelope.time,
    data,
    extrasText,
    deliverAt,
  ]
}

/**
 * The pattern and time range of a replay or count, checked, as SQL parameters. Without `to` there is
 * no upper bound ('infinity'): "now" would drop events stamped in the same millisecond as the call.
 */
function rangeOf(options: Omit<ReplayOptions, 'pageSize'>) {
  const p = sqlPattern(options.pattern ?? '>')
  const from = new Date(options.from ?? 0)
  const to = options.to === undefined ? undefined : new Date(options.to)
  if (Number.isNaN(from.getTime()) || (to && Number.isNaN(to.getTime())))
    throw new ConfigError('replay: from and to must be valid dates or RFC 3339 strings')
  return { p, from: from.toISOString(), to: to ? to.toISOString() : 'infinity' }
}

/** Options of `transport.replay`. */
export interface ReplayOptions {
  /** Event type or NATS-style pattern (default `>`, everything). */
  pattern?: string
  /** Start of the time range (event `time`), inclusive. */
  from?: Date | string
  /** End of the time range, exclusive (default: none). */
  to?: Date | string
  /** Rows fetched per page. */
  pageSize?: number
}

/** The db-realtime transport: the Transport SPI plus dead letters and replay of the log. */
export interface DbRealtimeTransport extends Transport {
  readonly deadLetters: DeadLetterStore
  /** The schema this transport uses. */
  readonly schema: string
  /**
   * Replays stored events of a time range, oldest first, into `handler` (outside any group: nothing
   * is acked or retried). Returns how many events were handed over. Undecodable rows are skipped and counted in `skipped`.
   */
  replay(
    options: ReplayOptions,
    handler: (envelope: Envelope) => void | Promise<void>,
  ): Promise<{ replayed: number; skipped: number }>
  /** How many events `replay` with the same options would visit (progress of a backfill). */
  count(options: Omit<ReplayOptions, 'pageSize'>): Promise<number>
  /**
   * Removes old events by `policy` (default: the transport's `retention` option), never one a group still
   * needs; resolves when nothing more may go. Safe to run from several processes at once.
   */
  prune(policy?: RetentionPolicy): Promise<PruneResult>
  /** A claim-check store for big events in this schema's `payloads` table (see `claimCheckTransport`). */
  payloadStore(options?: DbPayloadStoreOptions): PayloadStore
}

function positiveInt(value: number, name: string): number {
  return assertPositiveInt(value, `db-realtime option ${name}`)
}

/** Builds the transport over a driver (the driver is closed with the transport). */
export function dbTransport(driver: DbDriver, options: DbTransportOptions = {}): DbRealtimeTransport {
  return new DbTransport(driver, options)
}

class DbTransport implements DbRealtimeTransport, SubscriptionHost {
  readonly name: string
  readonly capabilities = DB_REALTIME_CAPABILITIES
  readonly schema: string
  readonly acks: AckCoalescer<RowAck>
  readonly pollIntervalMs: number
  readonly scanLimit: number
  readonly deadLetters: DeadLetterStore
  readonly driver: DbDriver
  private readonly push: boolean
  private readonly publishTimeoutMs: number
  private readonly state: ConnectionState
  private readonly onError: TransportErrorListener
  private readonly subscriptions = new Set<DbSubscription>()
  private listening: Promise<() => Promise<void>> | undefined
  private readonly retention: AutoRetention | undefined
  private retentionTimer: ReturnType<typeof setTimeout> | undefined
  private pruning: Promise<unknown> | undefined
  private closed = false

  constructor(driver: DbDriver, options: DbTransportOptions) {
    this.name = driver.kind
    this.schema = driver.schema
    this.publishTimeoutMs = resolvePublishTimeout(options.publishTimeoutMs, `${driver.kind} transport`)
    this.state = new ConnectionState({
      onConnectionState: options.onConnectionState,
      onError: (err) => this.reportError(err, { operation: 'connection' }),
    })
    // The driver connected and checked the schema before the transport was built.
    this.state.up()
    this.driver = observedDriver(driver, this.state)
    this.acks = rowAckCoalescer(this.driver)
    this.pollIntervalMs = positiveInt(options.pollIntervalMs ?? DB_REALTIME_DEFAULTS.pollIntervalMs, 'pollIntervalMs')
    this.scanLimit = positiveInt(options.scanLimit ?? DB_REALTIME_DEFAULTS.scanLimit, 'scanLimit')
    this.push = options.push ?? DB_REALTIME_DEFAULTS.push
    this.onError = options.onError ?? warnErrorListener(driver.kind)
    this.deadLetters = {
      list: (opts) => this.listDeadLetters(opts),
      redrive: async (ids) =>
        ids.length === 0 ? 0 : this.value(await this.driver.call('dead_letter_redrive', [this.deadLetterIds(ids)])),
      purge: async (ids) =>
        ids.length === 0 ? 0 : this.value(await this.driver.call('dead_letter_purge', [this.deadLetterIds(ids)])),
    }
    if (options.retention) {
      checkRetention(options.retention, `${driver.kind} transport retention`)
      this.retention = options.retention
      this.scheduleRetention(
        positiveInt(options.retention.intervalMs ?? RETENTION_DEFAULTS.intervalMs, 'retention.intervalMs'),
      )
    }
  }

  async prune(policy?: RetentionPolicy): Promise<PruneResult> {
    this.assertOpen()
    const p = policy ?? this.retention
    if (!p)
      throw new ConfigError(
        `${this.name} transport: prune() needs a policy, e.g. prune({ maxAgeMs: 90 * 86_400_000 }), or the retention option`,
      )
    return pruneEvents(this.driver, p)
  }

  /** The automatic retention: one run every interval, never two at once; failures go to onError. */
  private scheduleRetention(intervalMs: number): void {
    this.retentionTimer = setTimeout(() => {
      this.pruning = this.prune()
        .then((result) => {
          if (result.heldBy) {
            this.reportError(
              new TransportError(
                `retention: group "${result.heldBy.group}" still needs event ${result.heldBy.seq}, so older events are kept; ` +
                  'if nobody consumes that group any more, drop it',
                { retryable: true },
              ),
              { operation: 'retention' },
            )
          }
        })
        .catch((err) => this.reportError(err, { operation: 'retention' }))
        .finally(() => {
          this.pruning = undefined
          if (!this.closed) this.scheduleRetention(intervalMs)
        })
    }, intervalMs)
    this.retentionTimer.unref?.()
  }

  get isClosed(): boolean {
    return this.closed
  }

  reportError(err: unknown, context: TransportErrorContext): void {
    try {
      this.onError(err, context)
    } catch {
      // a throwing error listener must not break the claim loop
    }
  }

  async publish(batch: readonly Envelope[]): Promise<void> {
    this.assertOpen()
    if (batch.length === 0) return
    await withDeadline(
      this.insert(batch),
      this.publishTimeoutMs,
      () => `${this.name}: publishing ${batch.length} event(s)`,
    )
  }

  private async insert(batch: readonly Envelope[]): Promise<void> {
    const [only] = batch
    if (batch.length === 1 && only && this.driver.insertEvent) {
      await this.driver.insertEvent(eventRowOf(only, this.capabilities.maxPayloadBytes, this.name))
      return
    }
    const chunk = DB_REALTIME_DEFAULTS.publishChunk
    for (let i = 0; i < batch.length; i += chunk) {
      const parts = batch
        .slice(i, i + chunk)
        .map((e) => encodeForJsonb(e, this.capabilities.maxPayloadBytes, this.name))
      await this.driver.call('publish', [`[${parts.join(',')}]`])
    }
  }

  async subscribe(spec: SubscriptionSpec, onBatch: (batch: Delivery[]) => Promise<void>): Promise<Subscription> {
    this.assertOpen()
    const p = sqlPattern(spec.pattern)
    const rows = await this.driver.call('register_group', [
      spec.group,
      spec.pattern,
      p.regex,
      p.prefix,
      spec.startFrom,
      spec.ephemeral,
    ])
    const groupId = this.value(rows)
    if (this.push) await this.startListening()
    const sub = new DbSubscription(this, groupId, spec, p.matches, onBatch)
    this.subscriptions.add(sub)
    return {
      close: async () => {
        this.subscriptions.delete(sub)
        await sub.close()
        if (spec.ephemeral)
          await this.driver
            .call('drop_group', [groupId])
            .catch((err) => this.reportError(err, { operation: 'drop-group', group: spec.group }))
      },
    }
  }

  payloadStore(options?: DbPayloadStoreOptions): PayloadStore {
    return dbPayloadStore(this.driver, options)
  }

  async count(options: Omit<ReplayOptions, 'pageSize'>): Promise<number> {
    this.assertOpen()
    const { p, from, to } = rangeOf(options)
    return Number(this.value(await this.driver.call('count_range', [from, to, p.regex, p.prefix])))
  }

  async replay(
    options: ReplayOptions,
    handler: (envelope: Envelope) => void | Promise<void>,
  ): Promise<{ replayed: number; skipped: number }> {
    this.assertOpen()
    const { p, from, to } = rangeOf(options)
    const pageSize = positiveInt(options.pageSize ?? 500, 'pageSize')
    let after = 0
    let replayed = 0
    let skipped = 0
    for (;;) {
      const rows = await this.driver.call('replay_page', [from, to, p.regex, p.prefix, after, pageSize])
      for (const row of rows) {
        after = Number(row.seq)
        let envelope: Envelope
        try {
          envelope = decodeEnvelope(String(row.envelope))
        } catch {
          skipped++
          continue
        }
        await handler(envelope)
        replayed++
      }
      if (rows.length < pageSize) return { replayed, skipped }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.retentionTimer)
    await this.pruning
    const subs = [...this.subscriptions]
    this.subscriptions.clear()
    await Promise.all(subs.map((s) => s.close()))
    await this.acks.flush()
    const stop = this.listening
    this.listening = undefined
    if (stop) await (await stop.catch(() => async () => {}))()
    this.state.closed()
    await this.driver.close()
  }

  private startListening(): Promise<() => Promise<void>> {
    this.listening ??= this.driver.listen(
      (hint) => this.onHint(hint),
      (err) => this.reportError(err, { operation: 'listen' }),
    )
    return this.listening
  }

  private onHint(hint: string): void {
    if (hint === '*' || hint === '') {
      for (const s of this.subscriptions) s.wake()
      return
    }
    const types = hint.split(' ')
    for (const s of this.subscriptions) if (types.some((t) => s.matches(t))) s.wake()
  }

  private async listDeadLetters(options: { group?: string; limit?: number } = {}): Promise<DeadLetter[]> {
    const rows = await this.driver.call('dead_letter_list', [options.group ?? null, options.limit ?? 100])
    return rows.map((r) => {
      const text = r.envelope === null || r.envelope === undefined ? undefined : String(r.envelope)
      const envelope = text === undefined ? undefined : tryDecodeEnvelope(text).envelope
      return {
        id: String(r.id),
        group: String(r.group_name),
        ...(envelope ? { envelope } : text !== undefined ? { raw: text } : {}),
        reason: { kind: String(r.kind) as DeadLetterKind, error: String(r.error), attempts: Number(r.attempts) },
        failedAt: String(r.failed_at),
      }
    })
  }

  private deadLetterIds(ids: readonly string[]): number[] {
    return ids.map((id) => {
      const n = Number(id)
      if (!Number.isSafeInteger(n) || n <= 0)
        throw new ConfigError(`invalid dead letter id ${JSON.stringify(id)}: use ids returned by deadLetters.list()`)
      return n
    })
  }

  private value(rows: readonly Record<string, unknown>[]): number {
    return Number(rows[0]?.value ?? 0)
  }

  private assertOpen(): void {
    if (this.closed)
      throw new TransportError(`the ${this.name} transport is closed: create a new one`, { retryable: false })
  }
}
