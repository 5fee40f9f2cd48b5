/** Counters a redis-streams transport keeps since it was created (for dashboards and tests). */
export interface RedisStreamsStats {
  /** Pending entries taken over after their lease ran out, or because a retry came due. */
  reclaimed: number
  /** Pending ids whose entry had been trimmed away (by `trimUnread` retention or outside tierbus); acked so they never block the PEL. */
  trimmedPending: number
  /** Entries retention removed from the streams this transport wrote to. */
  trimmed: number
  /** Of those, entries some consumer group had not settled, counted once per group (only with `trimUnread: true`). */
  trimmedUnread: number
  /** Trims held back because a consumer group had not settled entries the policy would have removed. */
  trimsHeldForGroups: number
  /** Idle consumers without pending entries removed from their groups. */
  consumersPruned: number
  /** Delayed events moved to their stream when due. */
  delayedMoved: number
}

/** Fresh zeroed counters. */
export function newStats(): RedisStreamsStats {
  return {
    reclaimed: 0,
    trimmedPending: 0,
    trimmed: 0,
    trimmedUnread: 0,
    trimsHeldForGroups: 0,
    consumersPruned: 0,
    delayedMoved: 0,
  }
}
