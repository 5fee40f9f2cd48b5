import { ConfigError } from '@tierbus/core'
import { positiveInt } from '@tierbus/core/adapter'
import type { DbDriver } from './driver.js'

/**
 * How long the events log keeps events. An event is removed when it is older than `maxAgeMs` OR beyond the
 * newest `maxEvents` — but never while a group still needs it: from the oldest event any group has pending
 * (not acked or dead-lettered yet) or has still to copy (a new group reading from 'earliest'), and any event
 * a dead letter refers to, everything is kept. Drop a group nobody consumes any more, or it holds pruning back.
 */
export interface RetentionPolicy {
  /** Remove events created (inserted) longer ago than this. */
  readonly maxAgeMs?: number
  /** Keep at most this many of the newest events (by sequence number; fewer when ids were skipped). */
  readonly maxEvents?: number
  /** Events one prune step (one short transaction) visits at most. */
  readonly batchSize?: number
}

/** A retention policy the transport applies by itself, every `intervalMs`. */
export interface AutoRetention extends RetentionPolicy {
  /** Time between two prune runs (default 10 minutes); the first runs one interval after start. */
  readonly intervalMs?: number
}

/** What one prune run did. */
export interface PruneResult {
  /** Events deleted. */
  readonly deleted: number
  /** Prune steps (transactions) it took. */
  readonly steps: number
  /**
   * Set when the policy would remove more but a group still needs the next event: that group's name and
   * the event's sequence number (a consumer that is behind, an event retrying, or an abandoned group).
   */
  readonly heldBy?: { readonly group: string; readonly seq: number }
}

/** Defaults of the retention options. */
export const RETENTION_DEFAULTS = Object.freeze({ batchSize: 5_000, intervalMs: 600_000 })

/** Checks a policy: at least one limit, each a positive integer. */
export function checkRetention(
  policy: RetentionPolicy,
  where: string,
): Required<Pick<RetentionPolicy, 'batchSize'>> & RetentionPolicy {
  if (policy.maxAgeMs === undefined && policy.maxEvents === undefined) {
    throw new ConfigError(`${where}: give maxAgeMs and/or maxEvents (e.g. { maxAgeMs: 90 * 86_400_000 })`)
  }
  return {
    ...(policy.maxAgeMs === undefined ? {} : { maxAgeMs: positiveInt(policy.maxAgeMs, `${where} maxAgeMs`) }),
    ...(policy.maxEvents === undefined ? {} : { maxEvents: positiveInt(policy.maxEvents, `${where} maxEvents`) }),
    batchSize: positiveInt(policy.batchSize ?? RETENTION_DEFAULTS.batchSize, `${where} batchSize`),
  }
}

/**
 * Applies a retention policy: calls the `prune` SQL function step by step (each step its own short
 * transaction, walking the log by sequence number) until it reports that nothing more may go.
 */
export async function pruneEvents(driver: DbDriver, policy: RetentionPolicy): Promise<PruneResult> {
  const p = checkRetention(policy, 'prune')
  let after = 0
  let deleted = 0
  let steps = 0
  for (;;) {
    const [row] = await driver.call('prune', [after, p.maxAgeMs ?? null, p.maxEvents ?? null, p.batchSize])
    steps++
    deleted += Number(row?.deleted ?? 0)
    after = Number(row?.last_seq ?? after)
    if (!row || row.done) {
      const held =
        row?.held_by === null || row?.held_by === undefined
          ? undefined
          : { group: String(row.held_by), seq: Number(row.held_seq) }
      return { deleted, steps, ...(held ? { heldBy: held } : {}) }
    }
  }
}
