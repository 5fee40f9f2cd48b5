/** Counters a redis-streams transport keeps since it was created (for dashboards and tests). */
export interface RedisStreamsStats {
  /** Pending entries taken over after their lease ran out, or because a retry came due. */
  reclaimed: number
  /** Pending ids whose entry had been trimmed away by retention; acked so they never block the PEL. */
  trimmedPending: number
  /** Idle consumers without pending entries removed from their groups. */
  consumersPruned: number
  /** Delayed events moved to their stream when due. */
  delayedMoved: number
}

/** Fresh zeroed counters. */
export function newStats(): RedisStreamsStats {
  return { reclaimed: 0, trimmedPending: 0, consumersPruned: 0, delayedMoved: 0 }
}
