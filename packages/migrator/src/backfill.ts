import { ConfigError, type Envelope, type Transport } from '@tierbus/core'

/** A time range and pattern of the db tier's log. */
export interface HistoryRange {
  /** Start (event time, inclusive); default: the beginning. */
  from?: Date | string
  /** End (exclusive); default: now. */
  to?: Date | string
  /** Event type or NATS-style pattern; default everything (`>`). */
  pattern?: string
}

/** What backfill reads from: the db tier's log (`@tierbus/db-realtime` transports have both methods). */
export interface HistorySource {
  replay(
    options: HistoryRange & { pageSize?: number },
    handler: (envelope: Envelope) => void | Promise<void>,
  ): Promise<{ replayed: number; skipped: number }>
  count?(options: HistoryRange): Promise<number>
}

/** Progress of a backfill. */
export interface BackfillProgress {
  copied: number
  /** Events in the range, when the source can count them. */
  total: number | undefined
  /** Rows that were not valid envelopes (left where they are). */
  skipped: number
  elapsedMs: number
  perSecond: number
}

/** Options of `backfill`. */
export interface BackfillOptions extends HistoryRange {
  source: HistorySource
  target: Transport
  /** Events published to the target per call. */
  batchSize?: number
  /** Called after each batch, and once at the end. */
  onProgress?: (progress: BackfillProgress) => void
}

/** Defaults of `backfill`. */
export const BACKFILL_DEFAULTS = Object.freeze({ batchSize: 500 })

/** True when `t` can be read as a history source (a db-realtime transport). */
export function isHistorySource(t: unknown): t is HistorySource {
  return typeof (t as HistorySource | undefined)?.replay === 'function'
}

/**
 * Copies a time range of the db tier's log into another tier, oldest first, in batches, with the
 * original ids — so consumers that dedupe by id (and the migrator's cross-tier dedup) never run an
 * event twice. Run it before target groups exist (before `shadow`), or rely on dedup's TTL: groups that
 * already exist on the target receive the copies as new events.
 */
export async function backfill(options: BackfillOptions): Promise<BackfillProgress> {
  const batchSize = options.batchSize ?? BACKFILL_DEFAULTS.batchSize
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new ConfigError(`backfill batchSize must be a positive integer, got ${batchSize}`)
  const range: HistoryRange = {
    ...(options.from !== undefined ? { from: options.from } : {}),
    ...(options.to !== undefined ? { to: options.to } : {}),
    ...(options.pattern !== undefined ? { pattern: options.pattern } : {}),
  }
  const started = Date.now()
  const total = options.source.count ? await options.source.count(range) : undefined
  let copied = 0
  let buffer: Envelope[] = []
  const progress = (skipped: number): BackfillProgress => {
    const elapsedMs = Date.now() - started
    return { copied, total, skipped, elapsedMs, perSecond: elapsedMs > 0 ? Math.round((copied / elapsedMs) * 1000) : 0 }
  }
  const flush = async () => {
    if (buffer.length === 0) return
    const batch = buffer
    buffer = []
    await options.target.publish(batch)
    copied += batch.length
    options.onProgress?.(progress(0))
  }
  const { skipped } = await options.source.replay({ ...range, pageSize: batchSize }, async (envelope) => {
    buffer.push(envelope)
    if (buffer.length >= batchSize) await flush()
  })
  await flush()
  const done = progress(skipped)
  options.onProgress?.(done)
  return done
}

/** A text progress bar: `[#########---------------------]  30%  3,000/10,000  1,234 events/s`. */
export function progressBar(p: BackfillProgress, width = 30): string {
  const n = (x: number) => x.toLocaleString('en-US')
  if (p.total === undefined || p.total === 0) return `${n(p.copied)} events copied  ${n(p.perSecond)} events/s`
  const ratio = Math.min(1, p.copied / p.total)
  const filled = Math.round(ratio * width)
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round(ratio * 100)).padStart(3)}%  ${n(p.copied)}/${n(p.total)}  ${n(p.perSecond)} events/s`
}
