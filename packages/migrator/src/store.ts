import type { DedupStore } from './dedup.js'
import { memoryDedupStore } from './dedup.js'
import type { Phase } from './phases.js'

/** One recorded phase change. */
export interface PhaseChange {
  readonly phase: Phase
  readonly at: string
}

/**
 * Shared migration state: cross-tier dedup plus the live phase of each migration, so `tierbus migrate
 * advance` switches every running process. Implementations: memory (one process), Redis, Postgres.
 */
export interface MigrationStore extends DedupStore {
  /** The current phase of `migration` (e.g. `postgres->redis`), or undefined when never set. */
  readPhase(migration: string): Promise<Phase | undefined>
  /** Sets the phase and appends it to the history. */
  writePhase(migration: string, phase: Phase): Promise<void>
  /** Phase changes, oldest first. */
  history(migration: string): Promise<PhaseChange[]>
  /** Releases connections the store opened itself. */
  close(): Promise<void>
}

/** An in-process migration store (single process: tests, demos, one-instance apps). */
export function memoryMigrationStore(): MigrationStore {
  const dedup = memoryDedupStore()
  const phases = new Map<string, PhaseChange[]>()
  return {
    ...dedup,
    async readPhase(migration) {
      return phases.get(migration)?.at(-1)?.phase
    },
    async writePhase(migration, phase) {
      const list = phases.get(migration) ?? []
      list.push({ phase, at: new Date().toISOString() })
      phases.set(migration, list)
    },
    async history(migration) {
      return [...(phases.get(migration) ?? [])]
    },
    async close() {},
  }
}
