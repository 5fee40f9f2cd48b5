import { ConfigError } from '@tierbus/core'

/** Migration phases in order; each step is reversible (advance or roll back one at a time). */
export const PHASES = ['source', 'dual-write', 'shadow', 'cutover', 'target'] as const
/** A migration phase. */
export type Phase = (typeof PHASES)[number]

/**
 * What each phase does:
 * - source: publish to and consume from the source tier only;
 * - dual-write: publish to both (source first), consume from the source;
 * - shadow: as dual-write, and also read the target without running handlers, comparing ids and lag;
 * - cutover: handlers run on the target (and drain the source's backlog), still writing both so a
 *   rollback loses nothing; cross-tier dedup runs each event's handler once per group;
 * - target: publish to and consume from the target only.
 */
/** One tier, or two in order (the first is written or handled first). */
type Sides = readonly ['source' | 'target'] | readonly ['source' | 'target', 'source' | 'target']

export const PHASE_BEHAVIOUR: Readonly<Record<Phase, { publish: Sides; handle: Sides; shadow: boolean }>> = {
  source: { publish: ['source'], handle: ['source'], shadow: false },
  'dual-write': { publish: ['source', 'target'], handle: ['source'], shadow: false },
  shadow: { publish: ['source', 'target'], handle: ['source'], shadow: true },
  cutover: { publish: ['target', 'source'], handle: ['target', 'source'], shadow: false },
  target: { publish: ['target'], handle: ['target'], shadow: false },
}

/** Parses `TIERBUS_MIGRATION=postgres->redis` into its two tiers (each a `TIERBUS_TRANSPORT` value). */
export function parseMigration(text: string): { from: string; to: string } {
  const m = /^\s*([a-z][a-z0-9-]{0,39})\s*->\s*([a-z][a-z0-9-]{0,39})\s*$/.exec(text)
  const from = m?.[1]
  const to = m?.[2]
  if (from === undefined || to === undefined || from === to) {
    throw new ConfigError(
      'TIERBUS_MIGRATION must be <from>-><to> with two different tiers (TIERBUS_TRANSPORT values), e.g. postgres->redis',
    )
  }
  return { from, to }
}

/** Checks a phase name (e.g. from `TIERBUS_MIGRATION_PHASE`). */
export function parsePhase(text: string): Phase {
  if (!(PHASES as readonly string[]).includes(text)) {
    throw new ConfigError(`TIERBUS_MIGRATION_PHASE=${JSON.stringify(text)}: use one of ${PHASES.join(', ')}`)
  }
  return text as Phase
}

/** The next phase (advance), or a ConfigError at the end. */
export function nextPhase(phase: Phase): Phase {
  const i = PHASES.indexOf(phase)
  const next = PHASES[i + 1]
  if (next === undefined)
    throw new ConfigError(
      `the migration is already in its last phase (${phase}): switch TIERBUS_TRANSPORT to the target tier and remove TIERBUS_MIGRATION`,
    )
  return next
}

/** The previous phase (rollback), or a ConfigError at the start. */
export function previousPhase(phase: Phase): Phase {
  const i = PHASES.indexOf(phase)
  const previous = PHASES[i - 1]
  if (previous === undefined)
    throw new ConfigError('the migration is in its first phase (source): there is nothing to roll back')
  return previous
}
