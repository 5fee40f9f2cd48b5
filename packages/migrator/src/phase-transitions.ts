import { ValidationError } from '@tierbus/core'
import { PHASES, type Phase } from './phases.js'
import type { PhaseChange } from './store.js'

/** A phase read back from a store; anything else there was written around tierbus (a ValidationError). */
export function storedPhase(migration: string, text: string): Phase {
  if ((PHASES as readonly string[]).includes(text)) return text as Phase
  throw new ValidationError(
    `migration ${migration}: the store holds phase ${JSON.stringify(text)}, which is not one of ${PHASES.join(', ')}; it was written outside tierbus: restore the last phase of the history (tierbus migrate status)`,
    [{ path: 'phase', message: 'not a phase' }],
  )
}

/** True when `to` is one step from `from`: an advance or a rollback. */
export function isPhaseStep(from: Phase, to: Phase): boolean {
  return Math.abs(PHASES.indexOf(from) - PHASES.indexOf(to)) === 1
}

/**
 * Throws a ValidationError unless a store may record `to` after `from` (the stored phase, undefined when
 * none is): the first phase may be any, later ones move one step (advance or rollback).
 */
export function assertPhaseStep(migration: string, from: Phase | undefined, to: Phase): void {
  if (from === undefined || isPhaseStep(from, to)) return
  throw new ValidationError(
    `migration ${migration}: cannot go from ${from} to ${to}; phases move one step at a time (${PHASES.join(' <-> ')}): run tierbus migrate advance / rollback once per step`,
    [{ path: 'phase', message: `${from} -> ${to} is not one step` }],
  )
}

/**
 * Why a running process must not follow a phase it read from the store, or undefined when it may. It may
 * when the store's history records how the phase got there from the process's own phase, one step at a
 * time (it can miss steps between polls). It must not when the stored phase disagrees with the last
 * recorded change (someone SET the key by hand) or the recorded path jumps.
 */
export function phaseChangeRefusal(
  migration: string,
  current: Phase,
  observed: Phase,
  history: readonly PhaseChange[],
): string | undefined {
  const keep = `keeping ${current}; if the change is intended, move one step at a time with tierbus migrate advance / rollback`
  const last = history.at(-1)?.phase
  if (last !== observed) {
    return `migration ${migration}: refusing phase ${observed}: the store's last recorded change is ${last ?? 'none'}, so the phase was written outside tierbus; ${keep}`
  }
  const from = history.map((h) => h.phase).lastIndexOf(current)
  const path = from === -1 ? [current, observed] : history.slice(from).map((h) => h.phase)
  for (let i = 1; i < path.length; i++) {
    const from = path[i - 1]
    const to = path[i]
    if (from !== undefined && to !== undefined && !isPhaseStep(from, to)) {
      return `migration ${migration}: refusing phase ${observed}: ${from} -> ${to} skips phases (a process at ${current} would strand events); ${keep}`
    }
  }
  return undefined
}
