import { DEDUP_DEFAULTS, type DedupStore } from './dedup-store.js'
import { ConfigError, TierbusError, ValidationError } from './errors.js'
import { newEventId } from './ids.js'
import type { Middleware } from './middleware.js'
import type { ReceivedEvent } from './received.js'

/** Options of `idempotent()`. */
export interface IdempotentOptions {
  /** Where handled keys are remembered: `memoryDedupStore()` (one process), `redisDedupStore`, `postgresDedupStore`. */
  store: DedupStore
  /** The idempotency key of an event (default: its id). Keys are per consumer group. */
  key?: (event: ReceivedEvent<unknown>) => string
  /** How long a handled key is remembered: a redelivery within it is acked without running the handler. */
  ttlMs?: number
  /**
   * How long a claim lasts without renewal. A running handler renews it every third of this, so it only
   * runs out when the process died mid-handler; then a redelivery may run the handler again.
   */
  claimMs?: number
  /** How long a copy that finds another copy running waits for it to finish before failing (and being retried). */
  waitMs?: number
}

/** Defaults of `IdempotentOptions`. */
export const IDEMPOTENT_DEFAULTS = Object.freeze({
  ttlMs: DEDUP_DEFAULTS.ttlMs,
  claimMs: 30_000,
  waitMs: 60_000,
  /** How often a waiting copy looks at the other copy's claim again. */
  pollMs: 100,
})

const MAX_KEY_LENGTH = 512

/**
 * Middleware that runs a handler at most once per key and consumer group, even when a tier redelivers:
 * the first copy claims the key in `store`, runs the handler and marks the key done (for `ttlMs`); a
 * redelivery of a done key is acked without running the handler; a copy that arrives while another runs
 * waits for it. A handler that throws releases the key, so its retry runs. What it cannot cover: a process
 * that dies after the handler's side effect and before the key is marked done runs it again on redelivery
 * (make the side effect and the mark one transaction for exactly-once).
 */
export function idempotent(options: IdempotentOptions): Middleware {
  const { store } = options ?? {}
  if (
    !store ||
    typeof store.claim !== 'function' ||
    typeof store.complete !== 'function' ||
    typeof store.release !== 'function'
  ) {
    throw new ConfigError(
      'idempotent({ store }): store must be a DedupStore (memoryDedupStore(), redisDedupStore(redis), postgresDedupStore(db))',
    )
  }
  const keyOf = options.key ?? ((event: ReceivedEvent<unknown>) => event.id)
  if (typeof keyOf !== 'function')
    throw new ConfigError('idempotent({ key }): key must be a function of the event, e.g. (e) => e.id')
  const ttlMs = positive(options.ttlMs ?? IDEMPOTENT_DEFAULTS.ttlMs, 'ttlMs')
  const claimMs = positive(options.claimMs ?? IDEMPOTENT_DEFAULTS.claimMs, 'claimMs')
  const waitMs = positive(options.waitMs ?? IDEMPOTENT_DEFAULTS.waitMs, 'waitMs')

  /** Claims the key, waiting while another copy holds it; false when it is already done. */
  async function claim(key: string, holder: string): Promise<boolean> {
    const deadline = Date.now() + waitMs
    for (;;) {
      const state = await store.claim(key, claimMs, holder)
      if (state === 'claimed') return true
      if (state === 'done') return false
      if (Date.now() >= deadline) {
        throw new TierbusError(
          'DUPLICATE_IN_PROGRESS',
          `another copy of this event has held idempotency key '${key}' for over ${waitMs} ms; this copy will be retried`,
        )
      }
      await new Promise((resolve) => setTimeout(resolve, IDEMPOTENT_DEFAULTS.pollMs))
    }
  }

  return {
    name: 'idempotent',
    async handle(ctx, next) {
      const userKey = keyOf(ctx.event)
      if (typeof userKey !== 'string' || userKey.length === 0 || userKey.length > MAX_KEY_LENGTH) {
        throw new ValidationError(
          `idempotent({ key }) returned ${typeof userKey === 'string' ? `a key of ${userKey.length} characters` : typeof userKey}: return a non-empty string of at most ${MAX_KEY_LENGTH} characters`,
        )
      }
      // Groups cannot contain '/', so the key is unambiguous; the prefix keeps it apart from the migrator's keys.
      const key = `idempotent/${ctx.group}/${userKey}`
      const holder = newEventId()
      if (!(await claim(key, holder))) return undefined
      const renew = setInterval(() => void store.claim(key, claimMs, holder).catch(() => {}), claimMs / 3)
      let result: unknown
      try {
        result = await next()
      } catch (err) {
        clearInterval(renew)
        // Unreleased (the store is down), the claim runs out after claimMs and the retry waits for that.
        await store.release(key).catch(() => {})
        throw err
      }
      clearInterval(renew)
      // The handler ran: a store failure here must not fail the delivery, or its retry would run it again.
      // Unmarked, the key stays claimed for claimMs, which covers the redeliveries that usually follow.
      await store.complete(key, ttlMs).catch(() => {})
      return result
    },
  }
}

function positive(value: number, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    throw new ConfigError(`idempotent({ ${name} }) must be a positive number of milliseconds, got ${String(value)}`)
  return value
}
