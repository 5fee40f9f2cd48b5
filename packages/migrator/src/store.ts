import { type DedupStore, memoryDedupStore } from '@tierbus/core'
import { assertPhaseStep } from './phase-transitions.js'
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
  /**
   * Compare-and-set: records `phase` (and appends it to the history, atomically with it) only if the
   * stored phase is still `expected` (undefined: none stored yet). Returns false when another writer got
   * there first. Throws a ValidationError when `expected -> phase` is not one step (advance or rollback).
   */
  writePhase(migration: string, phase: Phase, expected: Phase | undefined): Promise<boolean>
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
    async writePhase(migration, phase, expected) {
      assertPhaseStep(migration, expected, phase)
      const list = phases.get(migration) ?? []
      if (list.at(-1)?.phase !== expected) return false
      list.push({ phase, at: new Date().toISOString() })
      phases.set(migration, list)
      return true
    },
    async history(migration) {
      return [...(phases.get(migration) ?? [])]
    },
    async close() {},
  }
}
